using System.Diagnostics.CodeAnalysis;
using Registry.Balancing;

namespace Registry;

/// <summary>
/// One call placed by <see cref="ServiceBalancer.Pick"/>: the instance to call, and how to end the call. End every
/// call exactly once — <see cref="Succeed"/>, <see cref="Fail"/>, <see cref="TimedOut"/> or <see cref="Release"/> —
/// so the count of outstanding calls stays true. The default value has no instance.
/// </summary>
public readonly struct BalancedCall
{
    private readonly InstanceState? _state;

    internal BalancedCall(ServiceInstance instance, InstanceState state)
    {
        Instance = instance;
        _state = state;
    }

    /// <summary>The instance to call; null when none could be picked (see <see cref="ServiceBalancer.UnavailableReason"/>).</summary>
    public ServiceInstance? Instance { get; }

    /// <summary>True when an instance was picked.</summary>
    [MemberNotNullWhen(true, nameof(Instance))]
    public bool HasInstance => Instance is not null;

    /// <summary>
    /// The call succeeded: ends it and resets the instance's consecutive timeouts, and its consecutive failures unless it
    /// is ejected (a call that started before the ejection does not shorten the next back-off).
    /// </summary>
    public void Succeed()
    {
        if (_state is null) return;
        _state.End();
        _state.Owner.Succeeded(_state);
    }

    /// <summary>The call failed because of the instance: ends it and ejects the instance for a back-off.</summary>
    public void Fail()
    {
        if (_state is null) return;
        _state.End();
        _state.Owner.Failed(_state);
    }

    /// <summary>
    /// The instance took the call but gave no answer within its deadline: ends it, and ejects the instance once
    /// <c>registry.balancing.ejection.consecutive-timeouts</c> calls on it in a row timed out (a hung instance), or at
    /// the first after an ejection with no success since.
    /// </summary>
    public void TimedOut()
    {
        if (_state is null) return;
        _state.End();
        _state.Owner.TimedOut(_state);
    }

    /// <summary>Ends the call without judging the instance (e.g. the caller cancelled it).</summary>
    public void Release()
    {
        _state?.End();
    }
}
