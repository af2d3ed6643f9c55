using System.Globalization;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Fakes;

namespace Registry.Tests.Registration;

/// <summary>LeaseActor and RegistrySupervisor against the fake store: every fault of the fault model, simulated.</summary>
public sealed class RegistrationSimulationTests : Akka.TestKit.Xunit2.TestKit
{
    /// <summary>Fast cadence so simulations run quickly; lease expiry itself is driven by the fake's manual clock.</summary>
    internal static readonly Config Fast = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        registry {
          ttl = 3s
          renew-interval = 50ms
          key-check-interval = 50ms
          retry { min-backoff = 10ms, max-backoff = 50ms }
          restart { min-backoff = 10ms, max-backoff = 100ms }
          deregister-timeout = 500ms
        }
        """);

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly RegistrySettings _settings = RegistrySettings.From(Fast);
    private readonly Akka.TestKit.TestProbe _events;
    private readonly IActorRef _registry;

    public RegistrationSimulationTests() : base(Fast)
    {
        _events = CreateTestProbe();
        Sys.EventStream.Subscribe(_events, typeof(RegistrationEvent));
        // As the real store: a call on a hung connection fails once the call timeout passed.
        _etcd.CallTimeout = _settings.CallTimeout;
        _registry = StartRegistry(_etcd);
    }

    private static ServiceInstance User(string address = "127.0.0.1:8080") => ServiceInstance.Create("user", address);

    private static string KeyOf(ServiceInstance instance) => InstanceCodec.Key("/services/", instance.Service, instance.Id);

    private IActorRef StartRegistry(IRegistryStore store) => Sys.ActorOf(RegistrySupervisor.Props(store, _settings));

    /// <summary>A registry whose crashed registrations wait 30 s for their restart.</summary>
    private IActorRef StartSlowRestartRegistry() =>
        Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(
            ConfigurationFactory.ParseString("registry.restart { min-backoff = 30s, max-backoff = 30s }").WithFallback(Fast))));

    /// <summary>Kills the one registration of <paramref name="registry"/> and waits until its supervisor schedules the restart.</summary>
    private async Task CrashChildAsync(IActorRef registry)
    {
        var child = await Sys.ActorSelection(registry.Path / "*").ResolveOne(Wait);
        Watch(child);
        child.Tell(Kill.Instance);
        ExpectTerminated(child, Wait);
        ExpectEvent(RegistrationEventKind.Restarting);
    }

    /// <summary>
    /// Registers <paramref name="instance"/> with the answer to its first grant held on the wire; its actor crashes and
    /// its successor registers (returned). The held answer then arrives: the crashed actor reports its lease to the
    /// supervisor and tries its write.
    /// </summary>
    private async Task<Registered> CrashWithItsGrantHeldAsync(ServiceInstance instance)
    {
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var grants = 0;
        _etcd.AfterCall = operation =>
            operation == StoreOperation.GrantLease && Interlocked.Increment(ref grants) == 1 ? held.Task : Task.CompletedTask;
        _registry.Tell(new Register(instance), TestActor);
        AwaitCondition(() => Volatile.Read(ref grants) == 1, Wait);
        var first = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);
        Watch(first);
        first.Tell(Kill.Instance);
        ExpectTerminated(first, Wait);
        var registered = ExpectMsg<Registered>(Wait);

        var puts = _etcd.Calls(StoreOperation.Put);
        held.SetResult();
        AwaitCondition(() => _etcd.Calls(StoreOperation.Put) > puts, Wait);
        return registered;
    }

    private Registered RegisterAndAwait(ServiceInstance instance, IActorRef? registry = null)
    {
        (registry ?? _registry).Tell(new Register(instance), TestActor);
        return ExpectMsg<Registered>(Wait);
    }

    /// <summary>
    /// No flapping: five renewals of <paramref name="renewing"/> later, nothing was written and <paramref name="key"/>
    /// is still bound to <paramref name="holder"/>.
    /// </summary>
    private void AssertKeyStaysOn(string key, long holder, FakeRegistryStore renewing)
    {
        var revision = _etcd.Revision;
        var renewals = renewing.Calls(StoreOperation.KeepAlive);
        AwaitCondition(() => renewing.Calls(StoreOperation.KeepAlive) > renewals + 5, Wait);
        Assert.Equal((revision, holder), (_etcd.Revision, _etcd.Peek(key)?.LeaseId));
    }

    private RegistrationEvent ExpectEvent(RegistrationEventKind kind) =>
        _events.FishForMessage<RegistrationEvent>(e => e.Kind == kind, Wait);

    [Fact]
    public void Register_writes_the_key_bound_to_a_lease_and_answers_registered()
    {
        var instance = User();
        var registered = RegisterAndAwait(instance);

        Assert.Equal("/services/user/127.0.0.1:8080", registered.Key);
        var stored = _etcd.Peek(registered.Key);
        Assert.NotNull(stored);
        Assert.Equal(registered.LeaseId, stored.LeaseId);
        Assert.Equal(instance, InstanceCodec.Decode(stored.Value));
        Assert.Equal(registered.LeaseId, ExpectEvent(RegistrationEventKind.Registered).LeaseId);
    }

    [Fact]
    public async Task A_value_edited_by_hand_on_the_lease_is_written_back_even_when_it_names_the_same_instance()
    {
        var instance = User();
        var registered = RegisterAndAwait(instance);
        ExpectEvent(RegistrationEventKind.Registered);
        // The same service, id and address, without registeredAt and with a field of its own.
        var edited = """{"service":"user","id":"127.0.0.1:8080","address":"127.0.0.1:8080","note":"edited by hand"}"""u8.ToArray();

        await _etcd.Connect().PutAsync(registered.Key, edited, registered.LeaseId, PutCondition.Always, CancellationToken.None);

        ExpectEvent(RegistrationEventKind.Reregistered);
        AwaitAssert(() => Assert.Equal(InstanceCodec.Encode(instance), _etcd.Peek(registered.Key)!.Value), Wait);
    }

    [Fact]
    public void Invalid_registration_is_refused_naming_every_problem()
    {
        _registry.Tell(new Register(User("notanaddress"), TtlSeconds: 1), TestActor);

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Invalid, failed.Kind);
        Assert.Contains("address 'notanaddress'", failed.Reason);
        Assert.Contains("ttl 1", failed.Reason);
        Assert.Equal(0, _etcd.Calls(StoreOperation.GrantLease));
    }

    [Fact]
    public void Renewals_keep_the_lease_alive_longer_than_its_ttl()
    {
        var registered = RegisterAndAwait(User());

        for (var round = 0; round < 3; round++)
        {
            var renewals = _etcd.Calls(StoreOperation.KeepAlive);
            AwaitCondition(() => _etcd.Calls(StoreOperation.KeepAlive) > renewals, Wait);
            _etcd.AdvanceTime(TimeSpan.FromSeconds(2));
        }

        Assert.Contains(registered.LeaseId, _etcd.LiveLeases);
        Assert.NotNull(_etcd.Peek(registered.Key));
    }

    [Fact]
    public void Failed_renewals_are_reported_once_and_recovered_without_losing_the_key()
    {
        var registered = RegisterAndAwait(User());
        var revision = _etcd.Revision;

        _etcd.FailKeepAlives();
        var failed = ExpectEvent(RegistrationEventKind.RenewFailed);
        Assert.Contains("keep-alive failed", failed.Detail);
        var attempts = _etcd.Calls(StoreOperation.KeepAlive);
        AwaitCondition(() => _etcd.Calls(StoreOperation.KeepAlive) > attempts + 2, Wait);
        _etcd.Heal();

        // The next event after the single renew-failed is the recovery: no repeated failure events, no loss.
        var next = _events.ExpectMsg<RegistrationEvent>(Wait);
        Assert.Equal(RegistrationEventKind.Recovered, next.Kind);
        Assert.Equal(revision, _etcd.Revision);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void Renewals_held_past_the_call_timeout_are_reported_failed_and_recover_after_the_heal()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var revision = _etcd.Revision;
        _etcd.CallTimeout = TimeSpan.FromMilliseconds(200);

        _etcd.Hang();

        Assert.Contains(FakeRegistryStore.DeadlineMessage, ExpectEvent(RegistrationEventKind.RenewFailed).Detail);
        _etcd.Heal();
        Assert.Equal(RegistrationEventKind.Recovered, _events.ExpectMsg<RegistrationEvent>(Wait).Kind);
        Assert.Equal(revision, _etcd.Revision);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void A_lease_lost_during_a_cut_is_replaced_at_once_and_the_key_written_again()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);

        _etcd.MakeUnavailable();
        ExpectEvent(RegistrationEventKind.RenewFailed);
        _etcd.AdvanceTime(TimeSpan.FromSeconds(4));
        Assert.Null(_etcd.Peek(registered.Key));
        _etcd.Heal();

        Assert.Equal(registered.LeaseId, ExpectEvent(RegistrationEventKind.LeaseLost).LeaseId);
        var again = ExpectEvent(RegistrationEventKind.Reregistered);
        Assert.NotEqual(registered.LeaseId, again.LeaseId);
        Assert.Equal(again.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void A_registration_asked_for_while_etcd_is_down_is_made_when_etcd_answers()
    {
        _etcd.MakeUnavailable();
        _registry.Tell(new Register(User()), TestActor);

        Assert.Contains("unavailable", ExpectEvent(RegistrationEventKind.Delayed).Detail);
        var attempts = _etcd.Calls(StoreOperation.GrantLease);
        AwaitCondition(() => _etcd.Calls(StoreOperation.GrantLease) > attempts + 2, Wait);
        _etcd.Heal();

        var registered = ExpectMsg<Registered>(Wait);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void Deregistering_a_registration_never_made_says_nothing_was_revoked()
    {
        _etcd.MakeUnavailable();
        _registry.Tell(new Register(User()), TestActor);
        ExpectEvent(RegistrationEventKind.Delayed);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Stopping, failed.Kind);
        ExpectMsg<Deregistered>(Wait);
        var deregistered = ExpectEvent(RegistrationEventKind.Deregistered);
        Assert.Equal((0L, "no lease was held: nothing to revoke"), (deregistered.LeaseId, deregistered.Detail));
    }

    [Fact]
    public async Task A_deregistration_while_no_lease_is_held_still_deletes_a_value_written_over_the_key_without_one()
    {
        var registered = RegisterAndAwait(User());
        // The lease is lost and no new one can be granted: the registration holds no lease when it is deregistered.
        var grants = 0;
        _etcd.BeforeCall = op =>
        {
            if (op != StoreOperation.GrantLease) return Task.CompletedTask;
            Interlocked.Increment(ref grants);
            return Task.FromException(new StoreUnavailableException("grant refused (simulated)"));
        };
        _etcd.ExpireLease(registered.LeaseId);
        ExpectEvent(RegistrationEventKind.LeaseLost);
        AwaitCondition(() => Volatile.Read(ref grants) > 0, Wait);
        await _etcd.Connect().PutAsync(registered.Key, "garbage"u8.ToArray(), 0, PutCondition.Always, CancellationToken.None);

        _registry.Tell(new Deregister("user", registered.Instance.Id), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
    }

    [Fact]
    public async Task A_crashed_lease_actor_is_restarted_and_reattaches_without_touching_the_key()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var revision = _etcd.Revision;
        var child = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);
        Watch(child);

        child.Tell(Kill.Instance);
        ExpectTerminated(child, Wait);

        var restarting = ExpectEvent(RegistrationEventKind.Restarting);
        Assert.Equal(registered.LeaseId, restarting.LeaseId);
        Assert.Contains("crashed; started again in", restarting.Detail);
        var reattached = ExpectEvent(RegistrationEventKind.Registered);
        Assert.Equal(registered.LeaseId, reattached.LeaseId);
        Assert.Contains("re-attached", reattached.Detail);
        Assert.Equal(1, _etcd.Calls(StoreOperation.GrantLease));
        Assert.Equal(revision, _etcd.Revision); // no DELETE and no rewrite happened
        var renewals = _etcd.Calls(StoreOperation.KeepAlive);
        AwaitCondition(() => _etcd.Calls(StoreOperation.KeepAlive) > renewals, Wait);
    }

    [Fact]
    public async Task Crashes_in_a_row_back_off_further_and_an_actor_that_ran_a_max_backoff_starts_again_at_the_minimum()
    {
        var registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(
            ConfigurationFactory.ParseString("registry.restart { min-backoff = 10ms, max-backoff = 1s, random-factor = 0.2 }").WithFallback(Fast))));
        RegisterAndAwait(User(), registry);
        ExpectEvent(RegistrationEventKind.Registered);

        async Task<double> CrashAsync()
        {
            var child = await Sys.ActorSelection(registry.Path / "*").ResolveOne(Wait);
            Watch(child);
            child.Tell(Kill.Instance);
            ExpectTerminated(child, Wait);
            var restarting = ExpectEvent(RegistrationEventKind.Restarting);
            Assert.Contains("re-attached", ExpectEvent(RegistrationEventKind.Registered).Detail);
            return double.Parse(Regex.Match(restarting.Detail!, @"started again in (\d+) ms").Groups[1].Value, CultureInfo.InvariantCulture);
        }

        // Each crash comes right after the restart: 10, 20, 40 ms (± 20 %).
        var delays = new[] { await CrashAsync(), await CrashAsync(), await CrashAsync() };
        Assert.InRange(delays[0], 8, 12);
        Assert.InRange(delays[1], 16, 24);
        Assert.InRange(delays[2], 32, 48);

        // An actor that has run a max-backoff (the time is what is tested) crashed once, not again.
        await Task.Delay(TimeSpan.FromSeconds(1.1));
        Assert.InRange(await CrashAsync(), 8, 12);
    }

    [Fact]
    public async Task A_lease_granted_to_a_crashed_actor_after_its_successor_attached_does_not_replace_the_successors()
    {
        var instance = User();
        var registered = await CrashWithItsGrantHeldAsync(instance);
        // Answered through the supervisor, so the stale report before it has been handled; the same value writes nothing.
        RegisterAndAwait(instance);
        var second = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);
        Watch(second);
        second.Tell(Kill.Instance);
        ExpectTerminated(second, Wait);

        // The third actor re-attaches to the lease holding the key, rather than finding it "taken" by another lease.
        var next = _events.FishForMessage<RegistrationEvent>(
            e => e.Kind == RegistrationEventKind.Conflict || e.Detail?.Contains("re-attached") == true, Wait);
        Assert.Equal(RegistrationEventKind.Registered, next.Kind);
        Assert.Equal(registered.LeaseId, next.LeaseId);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public async Task A_lease_granted_to_an_actor_that_then_crashed_is_the_one_revoked_by_a_deregistration_before_its_restart()
    {
        var registry = StartSlowRestartRegistry();
        var instance = User();
        var registered = RegisterAndAwait(instance, registry);
        // The lease expires: the actor acquires again, and the answer to its new grant is held on the wire.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var grants = 0;
        _etcd.AfterCall = operation =>
            operation == StoreOperation.GrantLease && Interlocked.Increment(ref grants) == 1 ? held.Task : Task.CompletedTask;
        _etcd.ExpireLease(registered.LeaseId);
        AwaitCondition(() => Volatile.Read(ref grants) == 1, Wait);
        var granted = Assert.Single(_etcd.LiveLeases);
        await CrashChildAsync(registry);

        // The crashed actor's answer arrives: it tells the supervisor of its lease, then tries its write.
        var puts = _etcd.Calls(StoreOperation.Put);
        held.SetResult();
        AwaitCondition(() => _etcd.Calls(StoreOperation.Put) > puts, Wait);
        registry.Tell(new Deregister(instance.Service, instance.Id), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.DoesNotContain(granted, _etcd.LiveLeases);
        Assert.Null(_etcd.Peek(registered.Key));
    }

    [Fact]
    public async Task A_late_write_of_a_crashed_actor_on_the_lease_it_was_granted_is_taken_back_by_its_successor()
    {
        var instance = User();
        var registered = await CrashWithItsGrantHeldAsync(instance);
        var late = Assert.Single(_etcd.LiveLeases, lease => lease != registered.LeaseId);
        // Its write, given up on by the client, lands all the same.
        // Through the supervisor and on to the running actor: whatever the report brought it has been handled.
        RegisterAndAwait(instance);
        await _etcd.Connect().PutAsync(registered.Key, InstanceCodec.Encode(instance), late, PutCondition.Always, CancellationToken.None);

        var next = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Conflict or RegistrationEventKind.Reregistered, Wait);
        Assert.True(next.Kind == RegistrationEventKind.Reregistered, $"{next.Kind}: {next.Detail}");
        AwaitAssert(() => Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId), Wait);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_write_back_refused_because_its_own_earlier_write_landed_first_is_not_a_conflict(bool sameValue)
    {
        var instance = User();
        var registered = RegisterAndAwait(instance);
        var other = _etcd.Connect();
        var landed = sameValue ? InstanceCodec.Encode(instance) : InstanceCodec.Encode(instance with { Weight = 7 });
        var puts = 0;
        _etcd.BeforeCall = async op =>
        {
            if (op != StoreOperation.Put) return;
            switch (Interlocked.Increment(ref puts))
            {
                case 1:
                    // The first write-back: the client gives up on it (a deadline) while etcd still has it queued.
                    throw new StoreUnavailableException("deadline exceeded");
                case 2:
                    // The retry read the key absent; the first write, with the same lease, lands just before its own.
                    _etcd.BeforeCall = null;
                    await other.PutAsync(registered.Key, landed, registered.LeaseId, PutCondition.Absent, CancellationToken.None);
                    break;
            }
        };

        // Deleted by hand: the registration writes its key back.
        await other.DeleteAsync(registered.Key, CancellationToken.None);

        var next = _events.FishForMessage<RegistrationEvent>(
            e => e.Kind is RegistrationEventKind.Conflict or RegistrationEventKind.Reregistered, Wait);
        Assert.True(next.Kind == RegistrationEventKind.Reregistered, $"{next.Kind}: {next.Detail}");
        AwaitAssert(() =>
        {
            var stored = _etcd.Peek(registered.Key);
            Assert.Equal(registered.LeaseId, stored?.LeaseId);
            Assert.Equal(InstanceCodec.Encode(instance), stored?.Value);
        }, Wait);
    }

    [Fact]
    public async Task A_restarted_actor_whose_lease_expired_meanwhile_registers_again()
    {
        var registered = RegisterAndAwait(User());
        _etcd.MakeUnavailable();
        await CrashChildAsync(_registry);
        _etcd.ExpireLease(registered.LeaseId);
        _etcd.Heal();

        Assert.Equal(registered.LeaseId, ExpectEvent(RegistrationEventKind.LeaseLost).LeaseId);
        var again = ExpectEvent(RegistrationEventKind.Reregistered);
        Assert.NotEqual(registered.LeaseId, again.LeaseId);
        Assert.Equal(again.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public async Task A_lease_granted_for_a_write_back_that_meets_another_registration_is_revoked()
    {
        var registered = RegisterAndAwait(User());
        var other = _etcd.Connect();
        var theirs = (await other.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;
        _etcd.BeforeCall = async op =>
        {
            if (op != StoreOperation.Put) return;
            _etcd.BeforeCall = null;
            // Another registration writes the key between this one's read (absent) and its write.
            await other.PutAsync(registered.Key, [1], theirs, PutCondition.Always, CancellationToken.None);
        };

        // The lease expires with its key: a new lease is granted and the key written back, only if still absent.
        _etcd.ExpireLease(registered.LeaseId);

        Assert.Contains(theirs.ToString("x"), ExpectEvent(RegistrationEventKind.Conflict).Detail);
        AwaitAssert(() => Assert.Equal([theirs], _etcd.LiveLeases), Wait);
    }

    [Fact]
    public void A_newer_process_claiming_the_same_id_wins_and_the_older_stops_without_flapping()
    {
        var older = RegisterAndAwait(User());
        var newerEtcd = _etcd.Connect();
        var newerRegistry = StartRegistry(newerEtcd);

        var newer = RegisterAndAwait(User(), newerRegistry);

        var conflict = ExpectEvent(RegistrationEventKind.Conflict);
        Assert.Equal(older.LeaseId, conflict.LeaseId);
        Assert.Contains($"{newer.LeaseId:x}", conflict.Detail);
        AwaitAssert(() => Assert.DoesNotContain(older.LeaseId, _etcd.LiveLeases), Wait);
        AssertKeyStaysOn(newer.Key, newer.LeaseId, newerEtcd);
        Assert.Equal(1, _etcd.Calls(StoreOperation.GrantLease));
    }

    [Fact]
    public async Task A_registration_whose_actor_crashed_before_its_first_write_still_takes_the_id_over_from_an_older_process()
    {
        var older = RegisterAndAwait(User(), StartRegistry(_etcd.Connect()));
        // The newer process's takeover write is held on the wire, its lease granted, when its actor crashes.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var puts = 0;
        _etcd.BeforeCall = op => op == StoreOperation.Put && Interlocked.Increment(ref puts) == 1 ? held.Task : Task.CompletedTask;
        _registry.Tell(new Register(User()), TestActor);
        AwaitCondition(() => Volatile.Read(ref puts) == 1, Wait);
        await CrashChildAsync(_registry);
        held.SetResult();

        // Its successor is still the newer registration: it takes the id over, and the older process stops.
        var answer = ExpectMsg<object>(Wait);
        Assert.True(answer is Registered, $"{answer}");
        var registered = (Registered)answer;
        Assert.Contains($"{registered.LeaseId:x}", ExpectEvent(RegistrationEventKind.Conflict).Detail);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
        AwaitAssert(() => Assert.DoesNotContain(older.LeaseId, _etcd.LiveLeases), Wait);
    }

    [Fact]
    public void A_register_waiting_when_a_newer_process_takes_the_id_fails_as_a_conflict()
    {
        RegisterAndAwait(User());
        _etcd.Hang();
        _registry.Tell(new Register(User() with { Weight = 5 }), TestActor);

        RegisterAndAwait(User(), StartRegistry(_etcd.Connect()));
        _etcd.Heal();

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Conflict, failed.Kind);
        Assert.StartsWith("conflict: the key is bound to lease", failed.Reason);
    }

    [Fact]
    public async Task A_register_that_reaches_the_actor_just_after_a_newer_process_took_the_id_fails_as_a_conflict()
    {
        var older = RegisterAndAwait(User());
        var other = _etcd.Connect();
        var theirs = (await other.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;
        await other.PutAsync(older.Key, InstanceCodec.Encode(User()), theirs, PutCondition.Always, CancellationToken.None);
        var child = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);

        // The keeper's news of it is in the actor's mailbox when the supervisor hands it an update.
        child.Tell(new Registry.Registration.LeaseKeeper.KeyTaken(older.LeaseId, theirs));
        _registry.Tell(new Register(User() with { Weight = 5 }), TestActor);

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.True(failed.Kind == RegistrationFailure.Conflict, $"{failed.Kind}: {failed.Reason}");
        Assert.StartsWith("conflict: ", failed.Reason);
    }

    [Fact]
    public void Deregistering_an_instance_that_just_stopped_after_a_conflict_is_answered()
    {
        RegisterAndAwait(User());
        RegisterAndAwait(User(), StartRegistry(_etcd.Connect()));
        ExpectEvent(RegistrationEventKind.Conflict);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        // Nothing to revoke, but whoever follows the events (the health check) learns the registration is over.
        Assert.Equal("stopped after a conflict; nothing left to revoke", ExpectEvent(RegistrationEventKind.Deregistered).Detail);
    }

    [Fact]
    public async Task A_register_is_answered_even_when_its_lease_actor_crashes_before_answering()
    {
        _etcd.MakeUnavailable();
        _registry.Tell(new Register(User()), TestActor);
        ExpectEvent(RegistrationEventKind.Delayed);

        await CrashChildAsync(_registry);
        _etcd.Heal();

        var registered = ExpectMsg<Registered>(Wait);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public async Task Deregistering_a_crashed_registration_waiting_for_its_restart_revokes_its_lease()
    {
        var registry = StartSlowRestartRegistry();
        var registered = RegisterAndAwait(User(), registry);
        await CrashChildAsync(registry);

        registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
    }

    [Fact]
    public async Task Deregistering_a_crashed_registration_after_a_restore_onto_a_lease_it_held_before_deletes_the_key()
    {
        var registry = StartSlowRestartRegistry();
        var registered = RegisterAndAwait(User(), registry);
        ExpectEvent(RegistrationEventKind.Registered);
        var backup = _etcd.Backup();
        _etcd.ExpireLease(registered.LeaseId);
        ExpectEvent(RegistrationEventKind.Reregistered);
        await CrashChildAsync(registry);
        _etcd.Restore(backup);

        registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
    }

    [Fact]
    public async Task Deregistering_a_crashed_registration_retries_a_revoke_that_failed_as_a_live_actor_does()
    {
        var registry = StartSlowRestartRegistry();
        var registered = RegisterAndAwait(User(), registry);
        await CrashChildAsync(registry);
        var revokes = 0;
        // A leader change, say: etcd refuses the first revoke, and would take the next.
        _etcd.BeforeCall = op => op == StoreOperation.RevokeLease && Interlocked.Increment(ref revokes) == 1
            ? Task.FromException(new StoreUnavailableException("leader changed"))
            : Task.CompletedTask;

        registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Null(ExpectEvent(RegistrationEventKind.Deregistered).Detail);
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
        Assert.Null(_etcd.Peek(registered.Key));
    }

    [Fact]
    public async Task A_key_deleted_by_hand_is_written_back_on_the_same_lease()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);

        Assert.True(await _etcd.Connect().DeleteAsync(registered.Key, CancellationToken.None));

        var back = ExpectEvent(RegistrationEventKind.Reregistered);
        Assert.Equal(registered.LeaseId, back.LeaseId);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public async Task A_lease_that_expires_during_a_write_back_is_reported_lost_and_replaced_at_once()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        // The write-back read the lease alive; it expires before the write reaches etcd.
        _etcd.BeforeCall = op =>
        {
            if (op == StoreOperation.Put)
            {
                _etcd.BeforeCall = null;
                _etcd.ExpireLease(registered.LeaseId);
            }
            return Task.CompletedTask;
        };

        Assert.True(await _etcd.Connect().DeleteAsync(registered.Key, CancellationToken.None));

        var next = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.LeaseLost or RegistrationEventKind.Delayed, Wait);
        Assert.True(next.Kind == RegistrationEventKind.LeaseLost, $"{next.Kind}: {next.Detail}");
        Assert.Equal(registered.LeaseId, next.LeaseId);
        var again = ExpectEvent(RegistrationEventKind.Reregistered);
        Assert.Equal(again.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void Restored_from_a_backup_onto_a_lease_it_held_before_the_key_is_taken_back_not_a_conflict()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var backup = _etcd.Backup();
        // A cut longer than the TTL: the lease expires with the key, and the registration comes back on a new lease.
        _etcd.ExpireLease(registered.LeaseId);
        var regranted = ExpectEvent(RegistrationEventKind.Reregistered).LeaseId;

        // etcd restored from the backup: the key back on the first lease, alive again; the new lease unknown.
        _etcd.Restore(backup);

        var back = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Reregistered or RegistrationEventKind.Conflict, Wait);
        Assert.Equal(RegistrationEventKind.Reregistered, back.Kind);
        AwaitAssert(() =>
        {
            var stored = _etcd.Peek(registered.Key);
            Assert.NotNull(stored);
            Assert.DoesNotContain(stored.LeaseId, new[] { registered.LeaseId, regranted });
            Assert.Contains(stored.LeaseId, _etcd.LiveLeases);
        }, Wait);
    }

    [Fact]
    public void Deregistered_right_after_a_restore_onto_a_lease_it_held_before_the_key_goes_at_once()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var backup = _etcd.Backup();
        _etcd.ExpireLease(registered.LeaseId);
        ExpectEvent(RegistrationEventKind.Reregistered);
        // The key back on the first lease, alive again, before a key check or a renewal could notice.
        _etcd.Restore(backup);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        // Revoking the current lease alone left the key listed on the first until that expired.
        Assert.Null(_etcd.Peek(registered.Key));
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
    }

    [Fact]
    public async Task Restored_from_a_backup_onto_a_lease_held_before_its_actor_crashed_the_key_is_still_taken_back()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var backup = _etcd.Backup();
        _etcd.ExpireLease(registered.LeaseId);
        var regranted = ExpectEvent(RegistrationEventKind.Reregistered).LeaseId;
        // The actor that knew both leases crashes; its successor re-attaches to the second.
        await CrashChildAsync(_registry);
        Assert.Equal(regranted, ExpectEvent(RegistrationEventKind.Registered).LeaseId);

        _etcd.Restore(backup);

        var back = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Reregistered or RegistrationEventKind.Conflict, Wait);
        Assert.Equal(RegistrationEventKind.Reregistered, back.Kind);
        AwaitAssert(() => Assert.Contains(_etcd.Peek(registered.Key)!.LeaseId, _etcd.LiveLeases), Wait);
    }

    [Fact]
    public void Restored_from_a_backup_taken_before_a_newer_process_took_the_id_over_the_newer_takes_it_back()
    {
        var older = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch });
        ExpectEvent(RegistrationEventKind.Registered);
        var backup = _etcd.Backup();
        var newerEtcd = _etcd.Connect();
        var newer = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) }, StartRegistry(newerEtcd));
        // The older process reports the conflict and stops.
        Assert.Equal(older.LeaseId, _events.FishForMessage<RegistrationEvent>(e => e.Kind == RegistrationEventKind.Conflict, Wait).LeaseId);

        // etcd restored from the backup: the key back on the older process's lease, alive again, nobody renewing it.
        _etcd.Restore(backup);

        // Before: the newer process took it for a newer registration's and stopped too, and the id expired with that lease.
        var back = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Reregistered or RegistrationEventKind.Conflict, Wait);
        Assert.True(back.Kind == RegistrationEventKind.Reregistered, $"{back.Kind}: {back.Detail}");
        AwaitAssert(() =>
        {
            var stored = _etcd.Peek(newer.Key);
            Assert.NotNull(stored);
            Assert.NotEqual(older.LeaseId, stored.LeaseId);
            Assert.Contains(stored.LeaseId, _etcd.LiveLeases);
            Assert.Equal(newer.Instance.RegisteredAt, InstanceCodec.Decode(stored.Value).RegisteredAt);
        }, Wait);
    }

    [Fact]
    public void A_process_whose_clock_is_behind_takes_an_id_over_and_gives_it_back_once_without_flapping()
    {
        // The later process stamps an earlier registration time: its takeover is an older registration's to the first.
        var first = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) });
        ExpectEvent(RegistrationEventKind.Registered);
        var behindEtcd = _etcd.Connect();

        var behind = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch }, StartRegistry(behindEtcd));

        // The first takes it back; the one behind then reads the later registration and stops, once.
        Assert.Equal(behind.LeaseId, _events.FishForMessage<RegistrationEvent>(e => e.Kind == RegistrationEventKind.Conflict, Wait).LeaseId);
        AwaitAssert(() => Assert.Equal(first.Instance.RegisteredAt, InstanceCodec.Decode(_etcd.Peek(first.Key)!.Value).RegisteredAt), Wait);
        AssertKeyStaysOn(first.Key, _etcd.Peek(first.Key)!.LeaseId, _etcd);
    }

    /// <summary>A registry checking its keys every 30 s (the default is the TTL): a takeover goes unnoticed meanwhile.</summary>
    private IActorRef StartSlowKeyCheckRegistry(IRegistryStore store) =>
        Sys.ActorOf(RegistrySupervisor.Props(store, RegistrySettings.From(
            ConfigurationFactory.ParseString("registry.key-check-interval = 30s").WithFallback(Fast))));

    [Fact]
    public void An_older_process_updating_its_value_after_a_newer_took_the_id_over_does_not_take_it_back()
    {
        var olderRegistry = StartSlowKeyCheckRegistry(_etcd);
        var older = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch }, olderRegistry);
        var newerEtcd = _etcd.Connect();
        var newer = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) }, StartSlowKeyCheckRegistry(newerEtcd));
        Assert.Equal(newer.LeaseId, _etcd.Peek(newer.Key)!.LeaseId);

        // The older process updates its value before its next key check, stamped now (as ServiceInstance.Create does).
        olderRegistry.Tell(new Register(older.Instance with { Weight = 2, RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(2) }), TestActor);

        // The newer process took the id over: the older one's update is a conflict, not a takeover.
        var answer = ExpectMsg<object>(Wait);
        Assert.True(answer is RegistrationFailed { Kind: RegistrationFailure.Conflict }, $"{answer}");
        Assert.Equal(newer.LeaseId, _etcd.Peek(newer.Key)!.LeaseId);
    }

    [Fact]
    public async Task An_older_process_updating_its_value_while_its_actor_waits_for_its_restart_does_not_take_the_id_back()
    {
        var olderRegistry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(ConfigurationFactory.ParseString(
            "registry { key-check-interval = 30s, restart { min-backoff = 30s, max-backoff = 30s } }").WithFallback(Fast))));
        var older = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch }, olderRegistry);
        ExpectEvent(RegistrationEventKind.Registered);
        var newerEtcd = _etcd.Connect();
        var newer = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) }, StartSlowKeyCheckRegistry(newerEtcd));
        await CrashChildAsync(olderRegistry);

        // The update starts the actor at once: it knows the registration it wrote, not only the update's stamp.
        olderRegistry.Tell(new Register(older.Instance with { Weight = 2, RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(2) }), TestActor);

        var answer = ExpectMsg<object>(Wait);
        Assert.True(answer is RegistrationFailed { Kind: RegistrationFailure.Conflict }, $"{answer}");
        Assert.Equal(newer.LeaseId, _etcd.Peek(newer.Key)!.LeaseId);
    }

    [Fact]
    public void Two_live_processes_updating_their_values_do_not_take_the_id_from_each_other_in_turn()
    {
        var aRegistry = StartSlowKeyCheckRegistry(_etcd);
        var a = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch }, aRegistry);
        var bEtcd = _etcd.Connect();
        var bRegistry = StartSlowKeyCheckRegistry(bEtcd);
        var b = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) }, bRegistry);

        // Each updates its weight now and then, stamped now; the holder of the key after each update:
        // a process told of a conflict stops registering the id (it does not register it again).
        var holders = new List<long>();
        var stopped = new HashSet<IActorRef>();
        for (var i = 2; i < 8; i++)
        {
            var (registry, registration) = i % 2 == 0 ? (aRegistry, a) : (bRegistry, b);
            if (stopped.Contains(registry)) continue;
            registry.Tell(new Register(registration.Instance with { Weight = i, RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(i) }), TestActor);
            if (ExpectMsg<object>(Wait) is RegistrationFailed) stopped.Add(registry);
            holders.Add(_etcd.Peek(a.Key)!.LeaseId);
        }

        // The key changed hands at most once (the newer registration won), not at every update.
        var changes = holders.Zip(holders.Skip(1)).Count(p => p.First != p.Second) + (holders[0] != b.LeaseId ? 1 : 0);
        Assert.True(changes <= 1, $"the key changed hands {changes} times: {string.Join(", ", holders.Select(l => l.ToString("x")))} (a {a.LeaseId:x}, b {b.LeaseId:x})");
    }

    [Fact]
    public void An_older_process_that_updated_its_value_just_before_a_newer_took_the_id_over_stops_as_a_conflict()
    {
        var older = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch });
        ExpectEvent(RegistrationEventKind.Registered);
        // The newer process stamps its instance; the older one's update, stamped now, lands before the newer one's write.
        var newerInstance = User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) };
        RegisterAndAwait(older.Instance with { Weight = 2, RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(2) });
        var newerEtcd = _etcd.Connect();

        var newer = RegisterAndAwait(newerInstance, StartRegistry(newerEtcd));

        // Before: the older process, its age taken from the update, took the id back and the newer one stopped.
        var conflict = _events.FishForMessage<RegistrationEvent>(e => e.Kind == RegistrationEventKind.Conflict, Wait);
        Assert.True(conflict.LeaseId == older.LeaseId, $"the newer registration's lease {newer.LeaseId:x} stopped: {conflict.Detail}");
        AssertKeyStaysOn(newer.Key, newer.LeaseId, newerEtcd);
    }

    [Fact]
    public void A_newer_process_writing_the_very_same_bytes_still_wins_without_flapping()
    {
        // One value, registration time included, registered by two processes: bytes cannot tell them apart.
        var instance = User() with { RegisteredAt = DateTimeOffset.UnixEpoch };
        var older = RegisterAndAwait(instance);
        var newerEtcd = _etcd.Connect();

        var newer = RegisterAndAwait(instance, StartRegistry(newerEtcd));

        Assert.Contains($"{newer.LeaseId:x}", ExpectEvent(RegistrationEventKind.Conflict).Detail);
        AssertKeyStaysOn(newer.Key, newer.LeaseId, newerEtcd);
        Assert.NotEqual(older.LeaseId, newer.LeaseId);
    }

    [Theory]
    // Another value bound to the same lease, as `etcdctl put --ignore-lease` writes, or a writer reusing the lease.
    [InlineData(true, "value updated")]
    // `etcdctl put` of garbage: no registration writes without a lease, so nobody else claims the id.
    [InlineData(false, "took the key back from a value written without a lease")]
    public async Task A_key_overwritten_by_another_writer_on_its_lease_or_on_none_is_written_back_not_a_conflict(bool onItsLease, string detail)
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);

        await _etcd.Connect().PutAsync(registered.Key, "not json"u8.ToArray(), onItsLease ? registered.LeaseId : 0, PutCondition.Always, CancellationToken.None);

        var back = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Reregistered or RegistrationEventKind.Conflict, Wait);
        Assert.Equal((RegistrationEventKind.Reregistered, detail), (back.Kind, back.Detail));
        Assert.Equal(registered.LeaseId, back.LeaseId);
        var stored = _etcd.Peek(registered.Key);
        Assert.Equal(registered.LeaseId, stored?.LeaseId);
        Assert.Equal(InstanceCodec.Encode(registered.Instance), stored?.Value);
    }

    [Fact]
    public async Task A_key_left_without_a_lease_when_the_lease_expires_is_taken_back_on_a_new_one()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        // A cut longer than the TTL, during which the key is written by hand.
        _etcd.MakeUnavailable();
        _etcd.ExpireLease(registered.LeaseId);
        await _etcd.Connect().PutAsync(registered.Key, "by hand"u8.ToArray(), 0, PutCondition.Always, CancellationToken.None);
        _etcd.Heal();

        Assert.Equal(registered.LeaseId, ExpectEvent(RegistrationEventKind.LeaseLost).LeaseId);
        var back = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Reregistered or RegistrationEventKind.Conflict, Wait);
        Assert.Equal(RegistrationEventKind.Reregistered, back.Kind);
        var stored = _etcd.Peek(registered.Key);
        Assert.Equal(back.LeaseId, stored?.LeaseId);
        Assert.Equal(InstanceCodec.Encode(registered.Instance), stored?.Value);
        Assert.Contains(back.LeaseId, _etcd.LiveLeases);
    }

    [Fact]
    public void A_key_written_without_a_lease_during_a_write_back_is_taken_back_at_once_not_delayed()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var other = _etcd.Connect();
        _etcd.BeforeCall = async operation =>
        {
            if (operation != StoreOperation.Put) return;
            _etcd.BeforeCall = null;
            // Written by hand between the write-back's read (absent) and its write.
            await other.PutAsync(registered.Key, "by hand"u8.ToArray(), 0, PutCondition.Always, CancellationToken.None);
        };

        // The lease expires with its key: a new lease is granted and the key written back, only if still absent.
        _etcd.ExpireLease(registered.LeaseId);

        ExpectEvent(RegistrationEventKind.LeaseLost);
        // Next comes the write-back: etcd answered all along, so nothing was delayed.
        var back = _events.ExpectMsg<RegistrationEvent>(Wait);
        Assert.Equal(RegistrationEventKind.Reregistered, back.Kind);
        Assert.Null(_etcd.BeforeCall);
        var stored = _etcd.Peek(registered.Key);
        Assert.Equal(back.LeaseId, stored?.LeaseId);
        Assert.Equal(InstanceCodec.Encode(registered.Instance), stored?.Value);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_registration_put_on_another_lease_during_a_write_back_is_taken_back_only_when_made_before_this_one(bool madeBefore)
    {
        var registered = RegisterAndAwait(User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(1) });
        ExpectEvent(RegistrationEventKind.Registered);
        var other = _etcd.Connect();
        var otherLease = (await other.GrantLeaseAsync(60, CancellationToken.None)).LeaseId;
        var found = User() with { RegisteredAt = DateTimeOffset.UnixEpoch.AddMinutes(madeBefore ? 0 : 2) };
        _etcd.BeforeCall = async operation =>
        {
            if (operation != StoreOperation.Put) return;
            _etcd.BeforeCall = null;
            // Between the write-back's read (absent) and its write: etcd restored from a backup taken before this process
            // took the id over (madeBefore), or a newer process taking it over.
            await other.PutAsync(registered.Key, InstanceCodec.Encode(found), otherLease, PutCondition.Always, CancellationToken.None);
        };

        // The lease expires with its key: a new lease is granted and the key written back, only if still absent.
        _etcd.ExpireLease(registered.LeaseId);

        ExpectEvent(RegistrationEventKind.LeaseLost);
        var next = _events.ExpectMsg<RegistrationEvent>(Wait);
        Assert.Null(_etcd.BeforeCall);
        var stored = _etcd.Peek(registered.Key);
        if (madeBefore)
        {
            // Before: a conflict, and the live newer registration stopped, leaving the id to a lease nobody renews.
            Assert.True(next.Kind == RegistrationEventKind.Reregistered, $"{next.Kind}: {next.Detail}");
            Assert.Equal(next.LeaseId, stored?.LeaseId);
            Assert.Equal(InstanceCodec.Encode(registered.Instance), stored?.Value);
        }
        else
        {
            Assert.Equal(RegistrationEventKind.Conflict, next.Kind);
            Assert.Equal(otherLease, stored?.LeaseId);
        }
    }

    [Fact]
    public async Task A_late_write_of_a_crashed_actor_landing_during_its_successors_write_back_is_taken_back()
    {
        var instance = User();
        var registered = await CrashWithItsGrantHeldAsync(instance);
        var late = Assert.Single(_etcd.LiveLeases, lease => lease != registered.LeaseId);
        // Through the supervisor and on to the running actor: whatever the report brought it has been handled.
        RegisterAndAwait(instance);
        var other = _etcd.Connect();
        _etcd.BeforeCall = async operation =>
        {
            if (operation != StoreOperation.Put) return;
            _etcd.BeforeCall = null;
            // The crashed actor's write, given up on by the client, lands between the write-back's read and its write.
            await other.PutAsync(registered.Key, InstanceCodec.Encode(instance), late, PutCondition.Always, CancellationToken.None);
        };

        // Deleted by hand: the registration writes its key back.
        await other.DeleteAsync(registered.Key, CancellationToken.None);

        var next = _events.FishForMessage<RegistrationEvent>(e => e.Kind is RegistrationEventKind.Conflict or RegistrationEventKind.Reregistered, Wait);
        Assert.True(next.Kind == RegistrationEventKind.Reregistered, $"{next.Kind}: {next.Detail}");
        Assert.Null(_etcd.BeforeCall);
        AwaitAssert(() => Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId), Wait);
    }

    [Fact]
    public void Registering_again_with_new_metadata_updates_the_value_on_the_same_lease()
    {
        var registered = RegisterAndAwait(User());
        var updated = User() with { Metadata = ServiceInstance.EmptyMetadata.Add("zone", "b") };

        var again = RegisterAndAwait(updated);

        Assert.Equal(registered.LeaseId, again.LeaseId);
        Assert.Equal("b", InstanceCodec.Decode(_etcd.Peek(registered.Key)!.Value).Metadata["zone"]);
    }

    [Fact]
    public void A_key_deleted_just_before_its_value_is_updated_is_written_back_not_taken_for_a_conflict()
    {
        var registered = RegisterAndAwait(User());
        ExpectEvent(RegistrationEventKind.Registered);
        var updated = User() with { Metadata = ServiceInstance.EmptyMetadata.Add("zone", "b") };
        var other = _etcd.Connect();
        // Another client deletes the key after the actor read it and before it writes the new value.
        _etcd.BeforeCall = async operation =>
        {
            if (operation != StoreOperation.Put) return;
            _etcd.BeforeCall = null;
            await other.DeleteAsync(registered.Key, CancellationToken.None);
        };

        var again = RegisterAndAwait(updated);

        Assert.Equal(registered.LeaseId, again.LeaseId);
        Assert.Equal(updated, InstanceCodec.Decode(_etcd.Peek(registered.Key)!.Value));
        Assert.Null(_etcd.BeforeCall);
        // Written back in the same attempt: etcd answered all along, so nothing was delayed.
        Assert.Equal(RegistrationEventKind.Registered, _events.ExpectMsg<RegistrationEvent>(Wait).Kind);
    }

    [Fact]
    public void A_lease_reused_for_an_updated_value_is_renewed_at_once()
    {
        // TTL 3600 renews every 900 s: a renewal within this test can only be the one at once.
        var settings = RegistrySettings.From(ConfigurationFactory.ParseString("registry { ttl = 3600s, renew-interval = auto, key-check-interval = auto }").WithFallback(Fast));
        var registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, settings));
        var registered = RegisterAndAwait(User(), registry);
        var renewals = _etcd.Calls(StoreOperation.KeepAlive);

        RegisterAndAwait(User() with { Weight = 5 }, registry);

        AwaitCondition(() => _etcd.Calls(StoreOperation.KeepAlive) > renewals, Wait);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void Deregister_revokes_the_lease_and_removes_the_key()
    {
        var registered = RegisterAndAwait(User());

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
        Assert.Null(ExpectEvent(RegistrationEventKind.Deregistered).Detail);
    }

    [Theory]
    // `etcdctl put` since the last key check: the revoke deletes only the keys on the lease.
    [InlineData(false)]
    // A newer registration's takeover since the last key check: its key is not this one's to delete.
    [InlineData(true)]
    public async Task Deregister_deletes_a_value_written_over_the_key_without_a_lease_but_not_one_on_another_lease(bool onAnotherLease)
    {
        var registered = RegisterAndAwait(User());
        var other = _etcd.Connect();
        var otherLease = onAnotherLease ? (await other.GrantLeaseAsync(10, CancellationToken.None)).LeaseId : 0;
        await other.PutAsync(registered.Key, "by hand"u8.ToArray(), otherLease, PutCondition.Always, CancellationToken.None);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Null(ExpectEvent(RegistrationEventKind.Deregistered).Detail);
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
        if (onAnotherLease) Assert.Equal(otherLease, _etcd.Peek(registered.Key)?.LeaseId);
        else Assert.Null(_etcd.Peek(registered.Key));
    }

    [Fact]
    public void Deregister_while_etcd_is_down_gives_up_after_its_timeout_and_says_the_key_will_expire()
    {
        RegisterAndAwait(User());
        _etcd.MakeUnavailable();

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Contains("expires with lease", ExpectEvent(RegistrationEventKind.Deregistered).Detail);
    }

    [Fact]
    public void Shutdown_deregisters_every_instance_and_answers_when_done()
    {
        var a = RegisterAndAwait(User("10.0.0.1:1"));
        var b = RegisterAndAwait(User("10.0.0.2:1"));

        _registry.Tell(RegistrySupervisor.DeregisterAll.Instance, TestActor);

        ExpectMsg<RegistrySupervisor.AllDeregistered>(Wait);
        Assert.Null(_etcd.Peek(a.Key));
        Assert.Null(_etcd.Peek(b.Key));
        _registry.Tell(new Register(User("10.0.0.3:1")), TestActor);
        var refused = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Stopping, refused.Kind);
        Assert.Contains("shutting down", refused.Reason);
    }

    [Fact]
    public async Task Shutdown_revokes_the_lease_of_a_crashed_registration_waiting_for_its_restart()
    {
        var registry = StartSlowRestartRegistry();
        var registered = RegisterAndAwait(User(), registry);
        await CrashChildAsync(registry);

        registry.Tell(RegistrySupervisor.DeregisterAll.Instance, TestActor);

        ExpectMsg<RegistrySupervisor.AllDeregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
    }

    [Fact]
    public async Task Overlapping_requests_to_deregister_everything_are_all_answered()
    {
        var registered = RegisterAndAwait(User());
        var revoking = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _etcd.BeforeCall = async operation =>
        {
            if (operation != StoreOperation.RevokeLease) return;
            revoking.TrySetResult();
            await release.Task;
        };
        var first = CreateTestProbe();
        var second = CreateTestProbe();

        // The host's stop asks first; CoordinatedShutdown asks again while the lease is still being revoked.
        _registry.Tell(RegistrySupervisor.DeregisterAll.Instance, first);
        await revoking.Task.WaitAsync(Wait);
        _registry.Tell(RegistrySupervisor.DeregisterAll.Instance, second);
        release.SetResult();

        first.ExpectMsg<RegistrySupervisor.AllDeregistered>(Wait);
        second.ExpectMsg<RegistrySupervisor.AllDeregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
    }

    [Fact]
    public void Registering_the_same_instance_twice_keeps_one_lease()
    {
        var first = RegisterAndAwait(User());
        var second = RegisterAndAwait(User());

        Assert.Equal(first.LeaseId, second.LeaseId);
        Assert.Equal(1, _etcd.Calls(StoreOperation.GrantLease));
        Assert.Equal(KeyOf(first.Instance), second.Key);
    }
}
