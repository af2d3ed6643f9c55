using System.CommandLine;
using Akka.Configuration;
using Microsoft.Extensions.Logging;

namespace Registry.Host.Cli;

/// <summary>What every command needs to reach etcd, resolved from options and environment.</summary>
internal sealed record CommonSettings(IReadOnlyList<Uri> Endpoints, string Prefix, LogLevel LogLevel)
{
    /// <summary>The endpoints as the user would write them, for messages.</summary>
    public string EndpointList => string.Join(",", Endpoints.Select(e => e.GetLeftPart(UriPartial.Authority)));
}

/// <summary>
/// Options shared by every command (<c>--etcd</c>, <c>--prefix</c>, <c>--verbose</c>), declared once on the root
/// and inherited by the subcommands.
/// </summary>
internal sealed class CommonOptions
{
    /// <summary>etcd URLs used when <c>--etcd</c> is absent.</summary>
    public const string EtcdVariable = "REGISTRY_ETCD";

    /// <summary>Log level (a Microsoft.Extensions.Logging level name) used when <c>--verbose</c> is absent.</summary>
    public const string LogLevelVariable = "REGISTRY_LOG_LEVEL";

    /// <summary>The endpoint used when neither <c>--etcd</c> nor <see cref="EtcdVariable"/> is set.</summary>
    public const string DefaultEndpoint = "http://127.0.0.1:2379";

    public Option<IReadOnlyList<Uri>?> Etcd { get; } = new("--etcd")
    {
        Description = $"etcd client URLs, comma-separated [default: ${EtcdVariable}, else {DefaultEndpoint}]",
        HelpName = "URL[,URL...]",
        Recursive = true,
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = result =>
        {
            var values = result.Tokens.Select(t => t.Value).ToList();
            if (ParseEndpoints("--etcd", values, out var endpoints) is { } problem) result.AddError(problem);
            return endpoints;
        },
    };

    public Option<string?> Prefix { get; } = OptionParsing.Checked("--prefix", "PREFIX",
        $"etcd key prefix, starting and ending with '/' [default: {InstanceCodec.DefaultPrefix}]", CheckPrefix);

    public Option<bool> Verbose { get; } = new("--verbose", "-v")
    {
        Description = $"log at Debug level on stderr [default: ${LogLevelVariable}, else Warning]",
        Recursive = true,
    };

    public CommonOptions() => Prefix.Recursive = true;

    public IEnumerable<Option> All => [Etcd, Prefix, Verbose];

    /// <summary>Resolves the settings; a bad environment variable is a <see cref="UsageException"/>.</summary>
    public CommonSettings Resolve(ParseResult parse, CliIo io)
    {
        var endpoints = parse.GetValue(Etcd);
        if (endpoints is null)
        {
            var fromEnvironment = io.Environment(EtcdVariable);
            if (string.IsNullOrWhiteSpace(fromEnvironment)) endpoints = [new Uri(DefaultEndpoint)];
            else if (ParseEndpoints(EtcdVariable, [fromEnvironment], out endpoints) is { } problem) throw new UsageException(problem);
        }
        return new CommonSettings(endpoints!, parse.GetValue(Prefix) ?? InstanceCodec.DefaultPrefix, ResolveLogLevel(parse, io));
    }

    /// <summary>The log level alone, for a command that reaches no etcd of the user's; a bad variable is a <see cref="UsageException"/>.</summary>
    public LogLevel ResolveLogLevel(ParseResult parse, CliIo io)
    {
        if (parse.GetValue(Verbose)) return LogLevel.Debug;
        if (io.Environment(LogLevelVariable) is not { Length: > 0 } name) return LogLevel.Warning;
        // By name only: Enum.TryParse also takes numbers, "0" as Trace.
        return Enum.GetNames<LogLevel>().FirstOrDefault(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)) is { } known
            ? Enum.Parse<LogLevel>(known)
            : throw new UsageException($"{LogLevelVariable} '{Printable.Excerpt(name)}': expected one of {string.Join(", ", Enum.GetNames<LogLevel>())}");
    }

    private static string? ParseEndpoints(string source, IReadOnlyList<string> values, out IReadOnlyList<Uri>? endpoints)
    {
        try
        {
            endpoints = RegistrySettings.ParseEndpoints(values);
            return null;
        }
        catch (ConfigurationException e)
        {
            endpoints = null;
            // The library names its HOCON key; here the user typed an option or a variable.
            var problem = e.Message.Replace("registry.etcd.endpoints: ", "", StringComparison.Ordinal);
            return problem.StartsWith('\'') ? $"{source} {problem}" : $"{source}: {problem}";
        }
    }

    private static string? CheckPrefix(string prefix) =>
        InstanceValidation.CheckPrefix(prefix) is { } problem ? $"prefix {problem}" : null;
}
