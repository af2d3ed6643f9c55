using Akka.Actor;
using System.Text;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Registration;

/// <summary>A registration's own key, changed behind its back in a real etcd, is put right by its periodic key check.</summary>
public sealed class KeyRepairTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Theory]
    // `etcdctl put --ignore-lease`, or a writer reusing the lease.
    [InlineData(true)]
    // `etcdctl put KEY 'not json'`: no registration writes a key without a lease, so it is no conflict.
    [InlineData(false)]
    public async Task Garbage_written_over_the_key_on_its_own_lease_or_on_none_is_written_back(bool onItsLease)
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 3);
        var registered = await registry.RegisterAsync(ServiceInstance.Create("user", $"127.0.0.1:{Random.Shared.Next(10_000, 60_000)}"));
        using var client = etcd.CreateClient();

        if (onItsLease) await client.PutKeepingLeaseAsync(registered.Key, "garbage");
        else await client.PutAsync(registered.Key, "garbage");

        var back = await registry.NextAsync(RegistrationEventKind.Reregistered);
        Assert.Equal(registered.LeaseId, back.LeaseId);
        var stored = await client.GetAsync(registered.Key);
        Assert.Equal(registered.LeaseId, stored?.LeaseId);
        Assert.Equal(Encoding.UTF8.GetString(InstanceCodec.Encode(registered.Instance)), stored?.Value);
    }

    [Fact]
    public async Task A_value_written_over_the_key_without_a_lease_just_before_deregistering_goes_with_the_registration()
    {
        // TTL 10 s: the key check, every TTL, does not take the value back before the deregistration.
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 10);
        var registered = await registry.RegisterAsync(ServiceInstance.Create("user", $"127.0.0.1:{Random.Shared.Next(10_000, 60_000)}"));
        using var client = etcd.CreateClient();
        await client.PutAsync(registered.Key, "garbage");

        // No sender, said so: Tell's implicit sender is a thread-static one, which another test class's TestKit sets on
        // the thread it ran on; its TestActor got the Deregistered.
        registry.Supervisor.Tell(new Deregister(registered.Instance.Service, registered.Instance.Id), ActorRefs.NoSender);

        Assert.Null((await registry.NextAsync(RegistrationEventKind.Deregistered)).Detail);
        Assert.Null(await client.GetAsync(registered.Key));
    }
}
