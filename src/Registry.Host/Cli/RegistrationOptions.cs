using System.Collections.Immutable;
using System.CommandLine;
using System.CommandLine.Parsing;

namespace Registry.Host.Cli;

/// <summary>
/// The options that describe one instance (<c>--service</c>, <c>--address</c>, <c>--id</c>, <c>--ttl</c>, <c>--weight</c>,
/// <c>--version</c>, <c>--meta</c>), shared by <c>register</c> and <c>serve</c> so both accept and check them alike.
/// </summary>
internal sealed class RegistrationOptions
{
    public Option<string?> Service { get; } = Required(OptionParsing.Checked("--service", "S",
        "service name (letters, digits, '.', '_', '-')", InstanceValidation.CheckService));

    public Option<string?> Address { get; } = Required(OptionParsing.Checked("--address", "HOST:PORT",
        "address the instance listens on", InstanceValidation.CheckAddress));

    public Option<string?> Id { get; } = OptionParsing.Checked("--id", "ID",
        "instance id, unique within the service [default: the address]", InstanceValidation.CheckId);

    public Option<long?> Ttl { get; } = OptionParsing.Number<long>("--ttl", "SEC",
        $"lease TTL in whole seconds, {InstanceValidation.MinTtlSeconds}-{InstanceValidation.MaxTtlSeconds} [default: registry.ttl, 10]",
        InstanceValidation.CheckTtl, 0);

    public Option<int?> Weight { get; } = OptionParsing.Number<int>("--weight", "N",
        "relative share of calls for weighted balancing [default: 1]", InstanceValidation.CheckWeight, 0);

    public Option<string?> Version { get; } = OptionParsing.Checked("--version", "V",
        "version of the service build", CheckVersion);

    public Option<ImmutableSortedDictionary<string, string>?> Meta { get; } = new("--meta")
    {
        Description = "metadata entry; repeat for more",
        HelpName = "K=V",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseMetadata,
    };

    public IEnumerable<Option> All => [Service, Address, Id, Ttl, Weight, Version, Meta];

    /// <summary>The <see cref="Register"/> the options describe; limits on the whole instance are a <see cref="UsageException"/>.</summary>
    public Register ToRegister(ParseResult parse)
    {
        var address = parse.GetValue(Address)!;
        if (parse.GetValue(Id) is null && InstanceValidation.CheckId(address) is { } idProblem)
            throw new UsageException($"{OptionParsing.Relabel("--address", idProblem)}, as the id it gives when --id is not");
        var instance = new ServiceInstance(
            parse.GetValue(Service)!,
            parse.GetValue(Id) ?? address,
            address,
            parse.GetValue(Meta) ?? ServiceInstance.EmptyMetadata,
            parse.GetValue(Weight) ?? 1,
            parse.GetValue(Version),
            DateTimeOffset.UtcNow);
        // The options are valid one by one, the default id too; what remains are limits on the whole: the number of
        // metadata entries, and the encoded size, to which every free-form option adds.
        if (InstanceValidation.Check(instance).FirstOrDefault() is { } problem)
        {
            throw new UsageException(problem.StartsWith("instance:", StringComparison.Ordinal)
                ? $"{problem} (--address, --id, --version and --meta together)"
                : OptionParsing.Relabel("--meta", problem));
        }
        return new Register(instance, parse.GetValue(Ttl));
    }

    private static ImmutableSortedDictionary<string, string>? ParseMetadata(ArgumentResult result)
    {
        var metadata = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var pair in result.Tokens.Select(t => t.Value))
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                result.AddError($"--meta '{Printable.Excerpt(pair)}': expected KEY=VALUE with a non-empty KEY");
                return null;
            }
            var key = pair[..equals];
            if (!metadata.TryAdd(key, pair[(equals + 1)..]))
            {
                result.AddError($"--meta '{Printable.Excerpt(pair)}': key '{Printable.Excerpt(key)}' given twice");
                return null;
            }
        }
        return metadata.ToImmutable();
    }

    private static string? CheckVersion(string version) =>
        version.Length > 0 && !version.Any(char.IsControl) ? null : $"version '{Printable.Excerpt(version)}': expected a non-empty string without control characters";

    private static Option<T> Required<T>(Option<T> option)
    {
        option.Required = true;
        return option;
    }
}
