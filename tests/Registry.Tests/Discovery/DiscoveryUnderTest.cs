using System.Collections.Immutable;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Discovery;

/// <summary>
/// A client process watching one service through the registry's discovery against real etcd: the membership
/// events it receives are applied, in order, to a <see cref="MembershipView"/> that fails on a missed or
/// duplicated event.
/// </summary>
internal sealed class DiscoveryUnderTest : IAsyncDisposable
{
    private readonly Channel<MembershipEvent> _events = Channel.CreateUnbounded<MembershipEvent>();
    private readonly ActorSystem _system;

    /// <param name="logLevel">Akka's log level: <c>DEBUG</c> also shows each attempt of a view that stays stale.</param>
    public DiscoveryUnderTest(IEnumerable<string> endpoints, string service = "user", string logLevel = "WARNING")
    {
        var hocon = $$"""
            akka.loglevel = {{logLevel}}
            registry {
              etcd.endpoints = [{{string.Join(", ", endpoints.Select(e => $"\"{e}\""))}}]
              discovery { progress-interval = 500ms, silence-timeout = 2s }
            }
            """;
        _system = ActorSystem.Create("discovery-test", ConfigurationFactory.ParseString(hocon));
        var collector = _system.ActorOf(Props.Create(() => new Collector(_events.Writer)));
        ServiceRegistry.Get(_system).Discovery.Tell(new SubscribeMembership(service), collector);
    }

    public MembershipView View { get; } = new();

    /// <summary>Applies every event received so far.</summary>
    public void ApplyReceived()
    {
        while (_events.Reader.TryRead(out var e)) View.Apply(e);
    }

    /// <summary>
    /// Waits until the view equals what etcd holds under <paramref name="prefix"/> (decodable values only), applying
    /// events as they come; fails with both views after <paramref name="timeout"/>.
    /// </summary>
    public async Task ConvergeAsync(EtcdTestClient etcd, string prefix, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        ImmutableSortedDictionary<string, ServiceInstance> expected = ImmutableSortedDictionary<string, ServiceInstance>.Empty;
        while (!cts.IsCancellationRequested)
        {
            ApplyReceived();
            expected = await EtcdViewAsync(etcd, prefix);
            if (View.Snapshots > 0 && !View.Stale && expected.SequenceEqual(View.ToSorted())) return;
            try
            {
                await _events.Reader.WaitToReadAsync(cts.Token).AsTask().WaitAsync(TimeSpan.FromMilliseconds(200), cts.Token);
            }
            catch (Exception e) when (e is TimeoutException or OperationCanceledException)
            {
            }
        }
        Assert.Fail($"view did not converge: etcd has [{string.Join(", ", expected.Keys)}], the watcher [{string.Join(", ", View.ToSorted().Keys)}], stale={View.Stale}");
    }

    /// <summary>Applies events as they come until the view is flagged stale; fails after <paramref name="timeout"/>.</summary>
    public Task WaitForStaleAsync(TimeSpan timeout) => WaitUntilAsync(v => v.Stale, "flagged stale", timeout);

    /// <summary>
    /// Applies events one at a time until <paramref name="done"/> holds, leaving later events unapplied; fails naming
    /// <paramref name="what"/> after <paramref name="timeout"/>.
    /// </summary>
    public async Task WaitUntilAsync(Func<MembershipView, bool> done, string what, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (!done(View))
            {
                if (_events.Reader.TryRead(out var e)) View.Apply(e);
                else await _events.Reader.WaitToReadAsync(cts.Token);
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the view was not {what} within {timeout.TotalSeconds:0} s (stale={View.Stale})");
        }
    }

    public static async Task<ImmutableSortedDictionary<string, ServiceInstance>> EtcdViewAsync(EtcdTestClient etcd, string prefix)
    {
        var entries = await etcd.ListAsync(prefix);
        var view = ImmutableSortedDictionary.CreateBuilder<string, ServiceInstance>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            try
            {
                var instance = InstanceCodec.Decode(System.Text.Encoding.UTF8.GetBytes(entry.Value));
                if (InstanceCodec.Key("/services/", instance.Service, instance.Id) == entry.Key) view[MembershipView.KeyOf(instance)] = instance;
            }
            catch (FormatException)
            {
            }
        }
        return view.ToImmutable();
    }

    public async ValueTask DisposeAsync() => await _system.Terminate();

    private sealed class Collector : ReceiveActor
    {
        public Collector(ChannelWriter<MembershipEvent> writer) => Receive<MembershipEvent>(e => writer.TryWrite(e));
    }
}
