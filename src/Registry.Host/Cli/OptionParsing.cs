using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Registry.Host.Cli;

/// <summary>
/// Builds options whose values are checked while parsing, so a bad value is a parse error that names the option.
/// The checks are the library's (<see cref="InstanceValidation"/>), their messages re-labelled with the option name.
/// </summary>
internal static class OptionParsing
{
    /// <summary>A string option checked by <paramref name="check"/>, which returns null or a message starting with the field name.</summary>
    public static Option<string?> Checked(string name, string helpName, string description, Func<string, string?> check) =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = result =>
            {
                var token = result.Tokens[0].Value;
                if (check(token) is { } problem) result.AddError(Relabel(name, problem));
                return token;
            },
        };

    /// <summary><c>--service S</c>: only the instances of one service; every service when absent.</summary>
    public static Option<string?> ServiceFilter() =>
        Checked("--service", "S", "only the instances of this service [default: every service]", InstanceValidation.CheckService);

    /// <summary>
    /// A whole-number option: <paramref name="check"/> validates the number (as in <see cref="InstanceValidation.CheckTtl"/>);
    /// a token that is no number gets the same explanation, and one above <typeparamref name="T"/>'s largest value,
    /// when that value is valid (<c>--weight 3000000000</c>), is said to be too large.
    /// </summary>
    public static Option<T?> Number<T>(string name, string helpName, string description, Func<T, string?> check, T sample)
        where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = result =>
            {
                var token = result.Tokens[0].Value;
                if (!T.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
                {
                    var tooLarge = BigInteger.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
                                   && number > 0 && check(T.MaxValue) is null;
                    result.AddError(tooLarge
                        ? $"{name} {Printable.Excerpt(token)}: too large; expected at most {T.MaxValue}"
                        : $"{name} '{Printable.Excerpt(token)}'{Explanation(check(sample) ?? ": invalid")}");
                    return null;
                }
                if (check(value) is { } problem) result.AddError(Relabel(name, problem));
                return value;
            },
        };

    /// <summary>A duration in seconds, decimals allowed (<c>2</c>, <c>0.5</c>), from 0 to <paramref name="maxSeconds"/>.</summary>
    public static Option<TimeSpan?> Seconds(string name, string helpName, string description, int maxSeconds) =>
        new(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = result =>
            {
                var token = result.Tokens[0].Value;
                var expected = $"expected seconds from 0 to {maxSeconds}, such as 2 or 0.5";
                // TryParse takes "NaN" and "Infinity" whatever the styles.
                if (!double.TryParse(token, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds))
                {
                    result.AddError($"{name} '{Printable.Excerpt(token)}': {expected}");
                    return null;
                }
                if (seconds > maxSeconds)
                {
                    result.AddError($"{name} {token}: {expected}");
                    return null;
                }
                return TimeSpan.FromSeconds(seconds);
            },
        };

    /// <summary>Replaces the field name a library message starts with ("ttl 0: …") by the option name ("--ttl 0: …").</summary>
    public static string Relabel(string option, string problem)
    {
        var space = problem.IndexOf(' ');
        var colon = problem.IndexOf(':');
        var fieldEnd = space < 0 || (colon >= 0 && colon < space) ? colon : space;
        return fieldEnd < 0 ? $"{option}: {problem}" : option + problem[fieldEnd..];
    }

    /// <summary>The part of a message after the value it names: ": expected …".</summary>
    private static string Explanation(string problem) => problem.IndexOf(':') is var colon and >= 0 ? problem[colon..] : $": {problem}";

    /// <summary>The first problem of a parse, worded as one line that names the argument; null when there is none.</summary>
    public static string? FirstProblem(ParseResult parse, IReadOnlyList<string> args)
    {
        if (OptionTakenAsValue(parse, args) is { } swallowed) return swallowed;
        if (parse.Errors.Count == 0) return null;
        var command = parse.CommandResult.Command;
        // Errors about a value that was given come first: they are what the user typed wrong.
        var optionError = parse.Errors.Select(e => e.SymbolResult).OfType<OptionResult>().FirstOrDefault(o => o.IdentifierToken is not null);
        if (optionError is { Tokens.Count: 0 }) return $"{optionError.Option.Name}: missing value";
        if (optionError is not null && optionError.Tokens.Count > 1 && optionError.Option.Arity.MaximumNumberOfValues == 1)
            return $"{optionError.Option.Name}: given {optionError.Tokens.Count} times; expected once";
        var valueError = parse.Errors.FirstOrDefault(e => e.SymbolResult is ArgumentResult || e.SymbolResult == optionError);
        if (valueError is not null) return valueError.Message;
        if (parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            // An option of the command given before the command's name ('registry --json list') is left unmatched too.
            if (token.StartsWith('-') && command.Options.Any(o => o.Name == token || o.Aliases.Contains(token)))
                return $"'{Printable.Excerpt(token)}': an option of '{Path(parse)}'; give it after '{command.Name}'";
            if (token.StartsWith('-')) return $"'{Printable.Excerpt(token)}': unknown option for '{Path(parse)}'";
            return command.Subcommands.Count > 0
                ? $"'{Printable.Excerpt(token)}': unknown command; expected one of: {Subcommands(command)}"
                : $"'{Printable.Excerpt(token)}': unexpected argument for '{Path(parse)}'";
        }
        if (command.Options.FirstOrDefault(o => o.Required && parse.GetResult(o) is not { IdentifierToken: not null }) is { } missing)
            return $"{missing.Name}: missing; '{Path(parse)}' requires it";
        if (command is RootCommand || (command.Action is null && command.Subcommands.Count > 0))
            return $"no command given; expected one of: {Subcommands(command)} (see 'registry --help')";
        return parse.Errors[0].Message;
    }

    /// <summary>
    /// An option given no value before the next option (<c>--id --ttl 5</c>), which the parser takes as its value; null
    /// when there is none. Said first: what follows it then fails in ways that do not name it. A value given with
    /// <c>=</c> (<c>--id=-v</c>) is meant as one.
    /// </summary>
    private static string? OptionTakenAsValue(ParseResult parse, IReadOnlyList<string> args)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = r.Parent)
        {
            foreach (var option in c.Command.Options) names.UnionWith(option.Aliases.Prepend(option.Name));
        }
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = r.Parent)
        {
            foreach (var given in c.Children.OfType<OptionResult>())
            {
                if (given.Tokens.FirstOrDefault(t => names.Contains(t.Value) && !args.Contains($"{given.IdentifierToken?.Value}={t.Value}")) is { } token)
                    return $"{given.Option.Name}: missing value ('{token.Value}' is an option)";
            }
        }
        return null;
    }

    private static string Subcommands(Command command) => string.Join(", ", command.Subcommands.Select(c => c.Name));

    private static string Path(ParseResult parse)
    {
        var names = new List<string>();
        for (SymbolResult? r = parse.CommandResult; r is CommandResult c; r = r.Parent) names.Add(c.Command is RootCommand ? "registry" : c.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }
}
