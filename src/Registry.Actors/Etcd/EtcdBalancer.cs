using System.Net;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace Registry.Etcd;

/// <summary>
/// The etcd channel's load balancing: round-robin over the ready members, as grpc-dotnet's own, except that calls
/// avoid the members <see cref="SuspectMembers"/> suspects, and every call tells it whether its member answered.
/// </summary>
internal sealed class EtcdBalancerFactory(SuspectMembers suspects) : LoadBalancerFactory
{
    public const string PolicyName = "registry_etcd";

    private const string WatchPath = "/etcdserverpb.Watch/Watch";

    public override string Name => PolicyName;

    public override LoadBalancer Create(LoadBalancerOptions options) => new EtcdBalancer(options.Controller, options.LoggerFactory, suspects);

    private sealed class EtcdBalancer(IChannelControlHelper controller, ILoggerFactory loggerFactory, SuspectMembers suspects)
        : SubchannelsLoadBalancer(controller, loggerFactory)
    {
        protected override SubchannelPicker CreatePicker(IReadOnlyList<Subchannel> readySubchannels) => new Picker(readySubchannels, suspects);
    }

    private sealed class Picker(IReadOnlyList<Subchannel> ready, SuspectMembers suspects) : SubchannelPicker
    {
        private readonly IReadOnlyList<EndPoint?> _members = ready.Select(s => (EndPoint?)s.CurrentAddress?.EndPoint).ToList();
        private int _next = Random.Shared.Next(ready.Count);

        public override PickResult Pick(PickContext context)
        {
            var kind = KindOf(context.Request?.RequestUri?.AbsolutePath);
            var watch = kind == EtcdCallKind.Watch ? EtcdChannel.WatchIdOf(context.Request!) : 0;
            var index = suspects.Choose(_members, (uint)Interlocked.Increment(ref _next), kind, watch);
            return PickResult.ForSubchannel(ready[index], _members[index] is { } member ? new CallTracker(suspects, member, context.Request) : null);
        }
    }

    private static EtcdCallKind KindOf(string? path) => path switch
    {
        KeepAliveCoalescingHandler.KeepAlivePath => EtcdCallKind.KeepAlive,
        WatchPath => EtcdCallKind.Watch,
        _ => EtcdCallKind.Unary,
    };

    /// <summary>
    /// Tells <see cref="SuspectMembers"/> how one call went: grpc-dotnet completes the tracker when the response's headers
    /// come (etcd sends them with a unary call's answer, with a stream's first message) or when the call fails before.
    /// Headers that carry an error (<see cref="TrailersOnlyHandler"/>) are no answer: a refusal after a long wait counts
    /// as a call unanswered, and "no leader" makes the member suspect at once (it can renew no lease and keep no watch,
    /// and a stream re-opened there would fail again), as does a connection it refused
    /// (<see cref="SuspectMembers.Ended"/>).
    /// </summary>
    private sealed class CallTracker(SuspectMembers suspects, EndPoint member, HttpRequestMessage? request) : ISubchannelCallTracker
    {
        private long _startedAt;

        public void Start() => _startedAt = suspects.Now;

        public void Complete(CompletionContext context)
        {
            string? refusal = null;
            request?.Options.TryGetValue(TrailersOnlyHandler.Refusal, out refusal);
            suspects.Ended(member, _startedAt, context.Error, refusal);
        }
    }
}
