using Akka.Configuration;

namespace Registry;

/// <summary>The <c>registry</c> HOCON section, parsed and validated once.</summary>
internal sealed record RegistrySettings(
    IReadOnlyList<Uri> Endpoints,
    TimeSpan CallTimeout,
    TimeSpan ReconnectMinBackoff,
    TimeSpan ReconnectMaxBackoff,
    TimeSpan StreamMinBackoff,
    TimeSpan StreamMaxBackoff,
    string Prefix,
    long TtlSeconds,
    TimeSpan? RenewInterval,
    TimeSpan? KeyCheckInterval,
    Backoff Retry,
    Backoff Restart,
    TimeSpan DeregisterTimeout,
    DiscoverySettings Discovery)
{
    /// <summary>The embedded reference.conf: every default.</summary>
    public static Config Reference { get; } = LoadReference();

    /// <summary>Reads <c>registry</c> from <paramref name="config"/> with reference.conf as fallback.</summary>
    public static RegistrySettings From(Config config)
    {
        var c = SettingReader.Section(config, Reference, "registry");
        var endpoints = ParseEndpoints(EndpointValues(c.Config));
        var ttl = c.Positive("ttl");
        if (ttl.Ticks % TimeSpan.TicksPerSecond != 0) throw Invalid("ttl", $"{SettingReader.Duration(ttl)}: expected whole seconds");
        var settings = new RegistrySettings(
            endpoints,
            c.Positive("etcd.call-timeout"),
            c.Positive("etcd.reconnect-min-backoff"),
            c.Wait("etcd.reconnect-max-backoff"),
            c.Positive("etcd.stream-min-backoff"),
            c.Wait("etcd.stream-max-backoff"),
            c.String("prefix", "a key prefix such as /services/"),
            (long)ttl.TotalSeconds,
            AutoOrInterval(c, "renew-interval"),
            AutoOrInterval(c, "key-check-interval"),
            ParseBackoff(c, "retry"),
            ParseBackoff(c, "restart"),
            c.Positive("deregister-timeout"),
            new DiscoverySettings(c.Wait("discovery.progress-interval"), c.Wait("discovery.silence-timeout")));
        if (settings.ReconnectMaxBackoff < settings.ReconnectMinBackoff)
            throw Invalid("etcd.reconnect-max-backoff", "must not be below etcd.reconnect-min-backoff");
        if (settings.StreamMaxBackoff < settings.StreamMinBackoff)
            throw Invalid("etcd.stream-max-backoff", "must not be below etcd.stream-min-backoff");
        if (InstanceValidation.CheckTtl(settings.TtlSeconds) is { } ttlProblem)
            throw Invalid("ttl", ttlProblem);
        if (settings.CallTimeout > ttl)
            throw Invalid("etcd.call-timeout", $"{SettingReader.Duration(settings.CallTimeout)} must not exceed the ttl ({SettingReader.Duration(ttl)}): a keep-alive stream stuck that long is noticed only after its leases expired");
        if (InstanceValidation.CheckPrefix(settings.Prefix) is { } prefixProblem)
            throw Invalid("prefix", prefixProblem);
        if (BeforeServiceUnbindTimeout(config) is var phase && settings.DeregisterTimeout >= phase)
            throw Invalid("deregister-timeout", $"{SettingReader.Duration(settings.DeregisterTimeout)} must be below {SettingReader.Duration(phase)}, the timeout of the CoordinatedShutdown phase it runs in ({ShutdownSection}.{PhaseTimeout}, else {ShutdownSection}.{DefaultPhaseTimeout})");
        if (settings.KeyCheckInterval > TimeSpan.FromSeconds(InstanceValidation.MaxTtlSeconds))
            throw Invalid("key-check-interval", $"{SettingReader.Duration(settings.KeyCheckInterval.Value)}: expected at most {InstanceValidation.MaxTtlSeconds}s, the longest TTL");
        if (settings.Discovery.SilenceTimeout <= settings.Discovery.ProgressInterval)
            throw Invalid("discovery.silence-timeout", "must exceed discovery.progress-interval");
        return settings;
    }

    /// <summary>
    /// The timeout of the phase deregistration runs in, read as CoordinatedShutdown reads it: the phase's own timeout,
    /// else the default phase timeout, else Akka's defaults (for a config that is not an actor system's).
    /// </summary>
    private static TimeSpan BeforeServiceUnbindTimeout(Config config)
    {
        var shutdown = SettingReader.Section(config, AkkaDefaults, ShutdownSection, bareDurations: true);
        return shutdown.Config.HasPath(PhaseTimeout) ? shutdown.Positive(PhaseTimeout) : shutdown.Positive(DefaultPhaseTimeout);
    }

    private const string ShutdownSection = "akka.coordinated-shutdown";
    private const string PhaseTimeout = "phases.before-service-unbind.timeout";
    private const string DefaultPhaseTimeout = "default-phase-timeout";

    private static readonly Config AkkaDefaults = ConfigurationFactory.Default();

    /// <summary>
    /// Parses etcd client URLs, each value one or several separated by commas, naming the one that is wrong. An empty
    /// entry beside others (<c>a,,b</c>, a trailing comma) is refused: it is most often a variable a script left unset.
    /// </summary>
    public static IReadOnlyList<Uri> ParseEndpoints(IEnumerable<string> values)
    {
        var given = values.ToList();
        var entries = given.SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries)).ToList();
        if (entries.Count > 1 && entries.Contains(""))
            throw Invalid("etcd.endpoints", $"'{Printable.Excerpt(string.Join(",", given))}': an empty URL among the others");
        var endpoints = entries.Where(e => e.Length > 0).Select(ParseEndpoint).ToList();
        if (endpoints.Count == 0) throw Invalid("etcd.endpoints", "no endpoint given");
        if (endpoints.Select(e => e.Scheme).Distinct().Count() > 1)
            throw Invalid("etcd.endpoints", "mixes http and https; use one scheme for all endpoints");
        return endpoints;
    }

    private static Uri ParseEndpoint(string raw)
    {
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw Invalid("etcd.endpoints", $"'{Printable.Excerpt(raw)}': expected a URL like http://127.0.0.1:2379");
        // Parts a gRPC channel to etcd would drop without a word, and port 0, which nothing listens on.
        var ignored = uri.Port == 0 ? "port 0"
            : uri.UserInfo.Length > 0 ? "user information"
            : uri.AbsolutePath != "/" ? "a path"
            : uri.Query.Length > 0 ? "a query"
            : uri.Fragment.Length > 0 ? "a fragment"
            : uri.HostNameType == UriHostNameType.IPv6 && uri.DnsSafeHost.Contains('%') ? "an IPv6 zone"
            : null;
        if (ignored is not null) throw Invalid("etcd.endpoints", $"'{Printable.Excerpt(raw)}': {ignored} has no place in an etcd URL like http://127.0.0.1:2379");
        return uri;
    }

    /// <summary><c>etcd.endpoints</c>: a list of URL strings, or one string (both may hold comma-separated URLs).</summary>
    private static IReadOnlyList<string> EndpointValues(Config registry)
    {
        var value = registry.GetValue("etcd.endpoints");
        if (value is null || value.IsEmpty) return [];
        if (value.IsString() && value.GetString() is { } one) return [one];
        var notAList = Invalid("etcd.endpoints", "expected a list of URLs, or one string of comma-separated URLs");
        if (!value.IsArray()) throw notAList;
        var items = new List<string>();
        foreach (var item in value.GetArray())
        {
            // HOCON's null reads as a string that is null.
            if (item is not { IsEmpty: false } || !item.IsString() || item.GetString() is not { } url) throw notAList;
            items.Add(url);
        }
        return items;
    }

    /// <summary>
    /// The renewal period for a lease of <paramref name="ttlSeconds"/>: the configured one, at most TTL/3; "auto" is
    /// TTL/4, so a lease has at least 3/4 of its TTL left when a cut begins and a cut of half the TTL still leaves a
    /// quarter of it for the first renewal after the heal (TTL/3 would leave a sixth: 0.5 s of a 3 s lease).
    /// </summary>
    public TimeSpan RenewIntervalFor(long ttlSeconds)
    {
        var ttl = TimeSpan.FromSeconds(ttlSeconds);
        return RenewInterval is { } configured ? (configured < ttl / 3 ? configured : ttl / 3) : ttl / 4;
    }

    /// <summary>How often a registration of <paramref name="ttlSeconds"/> checks its own key.</summary>
    public TimeSpan KeyCheckIntervalFor(long ttlSeconds) => KeyCheckInterval ?? TimeSpan.FromSeconds(ttlSeconds);

    private static Backoff ParseBackoff(SettingReader c, string path)
    {
        var backoff = new Backoff(c.Positive($"{path}.min-backoff"), c.Wait($"{path}.max-backoff"), c.Fraction($"{path}.random-factor"));
        if (backoff.Max < backoff.Min) throw Invalid($"{path}.max-backoff", "must not be below min-backoff");
        return backoff;
    }

    /// <summary>
    /// The shortest renew or key-check interval taken: etcd answers in milliseconds, so anything shorter only loads it
    /// (<c>3ms</c> written for <c>3s</c> would renew every lease over 300 times a second).
    /// </summary>
    private static readonly TimeSpan ShortestInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>"auto" (null), or a duration of at least <see cref="ShortestInterval"/>.</summary>
    private static TimeSpan? AutoOrInterval(SettingReader c, string path)
    {
        if (c.Config.GetValue(path) is { } value && value.IsString() && value.GetString() == "auto") return null;
        var interval = c.Positive(path, "auto or a positive duration");
        return interval >= ShortestInterval ? interval
            : throw Invalid(path, $"{SettingReader.Duration(interval)}: expected auto or at least {SettingReader.Duration(ShortestInterval)}; a shorter interval only loads etcd");
    }

    private static ConfigurationException Invalid(string path, string problem) => new($"registry.{path}: {problem}");

    private static Config LoadReference()
    {
        using var stream = typeof(RegistrySettings).Assembly.GetManifestResourceStream("Registry.reference.conf")
                           ?? throw new InvalidOperationException("reference.conf is not embedded in Registry.Actors");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}

/// <summary>The <c>registry.discovery</c> section: how watches prove they are alive.</summary>
internal sealed record DiscoverySettings(TimeSpan ProgressInterval, TimeSpan SilenceTimeout);

/// <summary>Jittered exponential back-off: attempt n waits min·2ⁿ capped at max, ± random-factor.</summary>
internal sealed record Backoff(TimeSpan Min, TimeSpan Max, double RandomFactor)
{
    /// <summary>The delay before retry number <paramref name="attempt"/> (0 = first retry).</summary>
    public TimeSpan Delay(int attempt)
    {
        var exponential = Min.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30));
        var capped = Math.Min(exponential, Max.TotalMilliseconds);
        var jitter = 1 + RandomFactor * (2 * Random.Shared.NextDouble() - 1);
        return TimeSpan.FromMilliseconds(capped * jitter);
    }
}
