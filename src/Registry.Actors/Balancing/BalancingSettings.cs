using Akka.Configuration;

namespace Registry.Balancing;

/// <summary>The <c>registry.balancing</c> HOCON section, parsed and validated once.</summary>
/// <param name="Policy">Name of the default policy (one of <see cref="LoadBalancingPolicies.Names"/>).</param>
/// <param name="Ejection">Back-off of an ejected instance: base·2ⁿ⁻¹ after n consecutive failures, capped, jittered.</param>
/// <param name="MaxEjectedPercent">The share of instances (0–100) that may be ejected at once; 0 turns ejection off.</param>
/// <param name="ConsecutiveTimeouts">Timed-out calls in a row that eject their instance; 0: never.</param>
/// <param name="HashLoadFactor">Bounded-load factor c of the hash policy, at least 1.</param>
/// <param name="VirtualNodes">Points per instance on the hash ring.</param>
internal sealed record BalancingSettings(
    string Policy,
    Backoff Ejection,
    int MaxEjectedPercent,
    int ConsecutiveTimeouts,
    double HashLoadFactor,
    int VirtualNodes)
{
    /// <summary>The defaults of reference.conf.</summary>
    public static BalancingSettings Default { get; } = From(Config.Empty);

    /// <summary>Reads <c>registry.balancing</c> from <paramref name="config"/> with reference.conf as fallback.</summary>
    public static BalancingSettings From(Config config)
    {
        var c = SettingReader.Section(config, RegistrySettings.Reference, "registry.balancing");

        var policies = $"one of {string.Join(", ", LoadBalancingPolicies.Names)}";
        var policy = c.String("policy", policies);
        if (!LoadBalancingPolicies.Names.Contains(policy)) throw c.Invalid("policy", $"'{policy}' is not {policies}");

        var ejection = new Backoff(
            c.Positive("ejection.base-backoff"), c.Wait("ejection.max-backoff"), c.Fraction("ejection.random-factor"));
        if (ejection.Max < ejection.Min) throw c.Invalid("ejection.max-backoff", "must not be below base-backoff");

        var percent = c.Int("ejection.max-ejected-percent", 0, 100);
        var timeouts = c.Int("ejection.consecutive-timeouts", 0, 1000);

        var loadFactor = c.Double("hash.load-factor", "a number of at least 1.0");
        if (!(loadFactor >= 1) || double.IsInfinity(loadFactor)) throw c.Invalid("hash.load-factor", $"{loadFactor}: expected a number of at least 1.0");

        var virtualNodes = c.Int("hash.virtual-nodes", 1, 10_000);

        return new BalancingSettings(policy, ejection, percent, timeouts, loadFactor, virtualNodes);
    }

    /// <summary>
    /// How many of <paramref name="members"/> instances may be ejected at once: the configured share rounded down, at
    /// least one when ejection is on, and never all of them.
    /// </summary>
    public int MaxEjected(int members) =>
        MaxEjectedPercent == 0 || members < 2 ? 0 : Math.Clamp(members * MaxEjectedPercent / 100, 1, members - 1);
}
