using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Akka.Actor;
using Grpc.Core;
using Registry.Host.Sample;

namespace Registry.Host.Client;

/// <summary>
/// The client path of the sample UserService: picks an instance on the balancer's hot path
/// (<see cref="ServiceBalancer.Pick"/>, no message per call), calls it over that instance's cached channel with a
/// deadline, and when the instance is gone (connection refused, <see cref="StatusCode.Unavailable"/>, deadline
/// exceeded while connecting, no channel to be made to its address) reports it — so passive health ejects it — and
/// tries an instance not tried yet within the attempts and time of <see cref="UserCallSettings"/>. Errors the
/// service itself answers are not retried, nor is a call that reached its deadline on a connected instance; those
/// report the timeout, so an instance that hangs is ejected after a few (<see cref="BalancedCall.TimedOut"/>).
/// </summary>
internal sealed class BalancedUserClient : IAsyncDisposable
{
    // Between attempts that found no instance, or only instances already tried: membership may be catching up.
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(50);

    private readonly ServiceBalancer _balancer;
    private readonly InstanceChannels _channels;
    private readonly UserCallSettings _settings;

    internal BalancedUserClient(ServiceBalancer balancer, InstanceChannels channels, UserCallSettings settings)
    {
        _balancer = balancer;
        _channels = channels;
        _settings = settings;
    }

    /// <summary>The balancer calls are placed with.</summary>
    public ServiceBalancer Balancer => _balancer;

    /// <summary>The instance addresses a channel is open to.</summary>
    public IReadOnlyCollection<string> ChannelAddresses => _channels.Addresses;

    /// <summary>A client of <paramref name="service"/> through the balancer with <paramref name="policy"/> (null: the configured one).</summary>
    public static async Task<BalancedUserClient> CreateAsync(ActorSystem system, string service, string? policy, UserCallSettings settings, CancellationToken ct = default)
    {
        var balancer = await ServiceRegistry.Get(system).BalancerAsync(service, policy, ct);
        return new BalancedUserClient(balancer, new InstanceChannels(system, service, settings), settings);
    }

    /// <summary>Calls <c>GetUserInfo(id)</c>; the user id is also the key of the <c>hash</c> policy.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled.</exception>
    public async Task<CallOutcome> GetUserInfoAsync(long id, CancellationToken ct = default)
    {
        var started = Stopwatch.GetTimestamp();
        var key = id.ToString(CultureInfo.InvariantCulture);
        var request = new GetUserInfoRequest { Id = id };
        // Ids of the instances this call tried, allocated at its first failure: the first attempt allocates nothing here.
        string[]? tried = null;
        var triedCount = 0;
        var error = "no attempt was made";
        var attempts = 0;
        while (attempts < _settings.MaxAttempts)
        {
            var remaining = _settings.Budget - Stopwatch.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero) break;
            var fresh = true;
            var call = tried is null ? _balancer.Pick(key) : _balancer.PickUntried(key, tried.AsSpan(0, triedCount), out fresh);
            if (!call.HasInstance || !fresh)
            {
                // Nothing (new) to try right now: pause while membership and ejections catch up; the pause spends no attempt.
                call.Release();
                if (!call.HasInstance) error = _balancer.UnavailableReason ?? $"no instance of '{_balancer.Service}' can be picked";
                if (remaining <= Pause) break;
                await Task.Delay(Pause, ct);
                // After the pause an instance tried before is fair game again (it may be the only one).
                if (fresh) continue;
                call = _balancer.PickUntried(key, tried.AsSpan(0, triedCount), out _);
                if (!call.HasInstance) continue;
                // The pause took its share of the budget.
                remaining = _settings.Budget - Stopwatch.GetElapsedTime(started);
                if (remaining <= TimeSpan.Zero)
                {
                    call.Release();
                    break;
                }
            }

            attempts++;
            var instance = call.Instance;
            InstanceChannel channel;
            try
            {
                channel = _channels.Get(instance.Address);
            }
            catch (ObjectDisposedException)
            {
                call.Release();
                throw;
            }
            catch (Exception e)
            {
                // No channel can be made to the address (e.g. no URI: validation lets none in, but a value could slip past
                // it): the instance cannot be reached, as if it refused, so it fails and another one is tried.
                call.Fail();
                error = $"{instance.Id}: no channel to '{instance.Address}': {e.Message}";
                (tried ??= new string[_settings.MaxAttempts])[triedCount++] = instance.Id;
                continue;
            }

            // The last attempt may get only what is left of the call's time: missing that is no sign of a hung instance,
            // nor of an unreachable one while its channel still connects.
            var shortened = remaining < _settings.AttemptDeadline;
            var deadline = DateTime.UtcNow + (shortened ? remaining : _settings.AttemptDeadline);
            try
            {
                await channel.Client.GetUserInfoAsync(request, deadline: deadline, cancellationToken: ct);
                call.Succeed();
                return new CallOutcome(true, instance.Id, attempts, Stopwatch.GetElapsedTime(started).TotalMilliseconds, null);
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                call.Release();
                throw new OperationCanceledException(ct);
            }
            catch (RpcException e) when (IsInstanceGone(e, channel.Channel.State, shortened))
            {
                call.Fail();
                error = $"{instance.Id}: {Describe(e)}";
            }
            catch (ObjectDisposedException e)
            {
                // The instance left and its channel was closed under this call: not the instance's fault, try another.
                call.Release();
                error = $"{instance.Id}: {e.Message}";
            }
            catch (RpcException e)
            {
                // The instance took the call: the error is the call's own, and another instance would answer the same. A
                // deadline passed with no answer is not retried either (the call may have run), but timeouts in a row
                // eject the instance: it may hang. A shortened attempt's deadline (the call's time ran out, perhaps while
                // its channel still connected) says nothing about the instance.
                if (e.StatusCode == StatusCode.DeadlineExceeded && !shortened) call.TimedOut();
                else call.Release();
                return new CallOutcome(false, null, attempts, Stopwatch.GetElapsedTime(started).TotalMilliseconds, $"{instance.Id}: {Describe(e)}");
            }

            // At most one id per attempt: the array holds them all.
            (tried ??= new string[_settings.MaxAttempts])[triedCount++] = instance.Id;
        }
        return new CallOutcome(false, null, attempts, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            $"{error} (after {attempts} attempt(s) in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms)");
    }

    /// <summary>
    /// True when the failure says the instance is gone or cannot be reached: refused or broken connections (Unavailable,
    /// or an I/O error under Internal or Unknown), or a deadline that passed while the channel was still connecting. A
    /// connection broken under a call (the instance killed, or aborting its calls as it stops) may have cut one the
    /// service ran, and the retry runs it again: <c>GetUserInfo</c> is a read. An attempt <paramref name="shortened"/>
    /// to what was left of the call's time says nothing by missing it.
    /// </summary>
    internal static bool IsInstanceGone(RpcException e, ConnectivityState state, bool shortened) => e.StatusCode switch
    {
        StatusCode.Unavailable => true,
        StatusCode.DeadlineExceeded => !shortened && state != ConnectivityState.Ready,
        StatusCode.Internal or StatusCode.Unknown => e.Status.DebugException is HttpRequestException or IOException or SocketException,
        _ => false,
    };

    private static string Describe(RpcException e)
    {
        // A deadline that passed on the client has no detail.
        var status = e.Status.Detail is { Length: > 0 } detail ? $"{e.StatusCode}: {detail}" : e.StatusCode.ToString();
        return e.Status.DebugException is { } inner ? $"{status} ({inner.GetType().Name}: {inner.Message})" : status;
    }

    public ValueTask DisposeAsync() => _channels.DisposeAsync();
}
