using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace Registry.Etcd;

/// <summary>
/// The etcd channel's load balancing: round-robin over the ready members, as grpc-dotnet's own, except that the
/// keep-alive stream avoids the member <see cref="KeepAliveRoute"/> suspects.
/// </summary>
internal sealed class EtcdBalancerFactory(KeepAliveRoute route) : LoadBalancerFactory
{
    public const string PolicyName = "registry_etcd";

    public override string Name => PolicyName;

    public override LoadBalancer Create(LoadBalancerOptions options) => new EtcdBalancer(options.Controller, options.LoggerFactory, route);

    private sealed class EtcdBalancer(IChannelControlHelper controller, ILoggerFactory loggerFactory, KeepAliveRoute route)
        : SubchannelsLoadBalancer(controller, loggerFactory)
    {
        protected override SubchannelPicker CreatePicker(IReadOnlyList<Subchannel> readySubchannels) => new Picker(readySubchannels, route);
    }

    private sealed class Picker(IReadOnlyList<Subchannel> ready, KeepAliveRoute route) : SubchannelPicker
    {
        private readonly IReadOnlyList<System.Net.EndPoint?> _members = ready.Select(s => (System.Net.EndPoint?)s.CurrentAddress?.EndPoint).ToList();
        private int _next = Random.Shared.Next(ready.Count);

        public override PickResult Pick(PickContext context)
        {
            var index = (int)((uint)Interlocked.Increment(ref _next) % (uint)ready.Count);
            if (context.Request?.RequestUri?.AbsolutePath == KeepAliveCoalescingHandler.KeepAlivePath) index = route.Choose(_members, index);
            return PickResult.ForSubchannel(ready[index]);
        }
    }
}
