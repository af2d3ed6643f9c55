using Akka.Actor;
using Akka.Configuration;
using Registry.Discovery;
using Registry.Etcd;
using Registry.Tests.Fakes;

namespace Registry.Tests.Discovery;

/// <summary>
/// An unexpected exception in the discovery supervisor's handlers, against the fake store: it costs only the message
/// that raised it; every watcher is kept, and its subscribers go on getting events without a new snapshot.
/// </summary>
public sealed class DiscoverySupervisorFailureTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Quiet = ConfigurationFactory.ParseString("akka.loglevel = WARNING");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly IActorRef _discovery;

    public DiscoverySupervisorFailureTests() : base(Quiet) =>
        _discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, RegistrySettings.From(Quiet)));

    private Task PutAsync(string service, int n)
    {
        var instance = ServiceInstance.Create(service, $"10.0.0.{n}:80");
        return _etcd.Connect().PutAsync(InstanceCodec.Key("/services/", service, instance.Id), InstanceCodec.Encode(instance), 0, PutCondition.Always, default);
    }

    [Fact]
    public async Task A_message_the_supervisor_fails_on_costs_only_that_message()
    {
        var (user, order, late) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        _discovery.Tell(new SubscribeMembership("user"), user);
        _discovery.Tell(new SubscribeMembership("order"), order);
        user.ExpectMsg<MembershipSnapshot>(Wait);
        order.ExpectMsg<MembershipSnapshot>(Wait);

        // A malformed report, as a bug could send: looking its null service up throws inside the supervisor's handler.
        EventFilter.Error(contains: "failed on a message of type Idle").ExpectOne(() => _discovery.Tell(new WatcherActor.Idle(null!, 0), TestActor));
        await PutAsync("user", 1);
        await PutAsync("order", 1);

        // The same watchers, still watching: the next event and no new snapshot (no re-list).
        user.ExpectMsg<InstanceUp>(Wait);
        order.ExpectMsg<InstanceUp>(Wait);
        Assert.Equal(2, _etcd.Calls(StoreOperation.List));
        _discovery.Tell(new SubscribeMembership("user"), late);
        Assert.Single(late.ExpectMsg<MembershipSnapshot>(Wait).Instances);
        foreach (var subscriber in new[] { user, late }) _discovery.Tell(new UnsubscribeMembership("user"), subscriber);
        _discovery.Tell(new UnsubscribeMembership("order"), order);
        AwaitAssert(() => Assert.Equal(0, _etcd.OpenWatches), Wait);
    }
}
