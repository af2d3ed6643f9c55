using Akka.Configuration;

namespace Registry;

/// <summary>
/// Reads the settings under one HOCON section with Akka's parsers: a value that cannot be read, or is out of range,
/// fails with a <see cref="ConfigurationException"/> naming the setting and what was expected. A duration needs a unit
/// unless <paramref name="bareDurations"/> (Akka's own sections: HOCON reads a bare number as milliseconds, so
/// <c>ttl = 10</c> would be 10 ms).
/// </summary>
internal sealed class SettingReader(Config config, string section, bool bareDurations = false)
{
    public Config Config => config;

    /// <summary>
    /// The settings under <paramref name="section"/> of <paramref name="config"/> over <paramref name="fallback"/>. A
    /// value on the way that is not an object (<c>registry.balancing = 5</c>), in any layer of the configuration, fails
    /// naming its key: Akka's merge of the layers would throw a <see cref="NullReferenceException"/>.
    /// </summary>
    public static SettingReader Section(Config config, Config fallback, string section, bool bareDurations = false)
    {
        var keys = section.Split('.');
        for (var layer = config; layer is not null; layer = layer.Fallback)
        {
            var value = layer.Root;
            for (var i = 0; i < keys.Length && value is not null && value.IsObject(); i++)
            {
                value = value.GetObject().GetKey(keys[i]);
                var key = string.Join('.', keys[..(i + 1)]);
                if (value is not null && !value.IsObject())
                    throw new ConfigurationException($"{key}: expected an object of settings ({key} {{ ... }})");
            }
        }
        return new SettingReader(config.WithFallback(fallback).GetConfig(section), section, bareDurations);
    }

    public ConfigurationException Invalid(string path, string problem) => new($"{section}.{path}: {problem}");

    /// <summary>A duration above zero; <paramref name="expected"/> names what the setting takes in the error.</summary>
    public TimeSpan Positive(string path, string expected = "a positive duration")
    {
        var value = Read(path, () => config.GetTimeSpan(path, allowInfinite: false), expected);
        if (!bareDurations && config.GetString(path) is var raw && IsBareDuration(raw))
            throw Invalid(path, $"'{raw}': a duration needs a unit, such as {raw}s or {raw}ms");
        return value > TimeSpan.Zero ? value : throw Invalid(path, $"{Duration(value)}: expected {expected}");
    }

    /// <summary>
    /// The longest back-off maximum or interval a setting may give: .NET's timers wait at most ~49.7 days, a back-off
    /// is jittered up to twice its maximum, and longer ones overflowed when computed.
    /// </summary>
    public static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);

    /// <summary>A duration above zero and at most <see cref="LongestWait"/>.</summary>
    public TimeSpan Wait(string path)
    {
        var value = Positive(path);
        return value <= LongestWait ? value : throw Invalid(path, $"{Duration(value)}: expected at most {Duration(LongestWait)}");
    }

    /// <summary>A number from 0 to 1.</summary>
    public double Fraction(string path)
    {
        var value = Read(path, () => config.GetDouble(path), "a number from 0 to 1");
        return value is >= 0 and <= 1 ? value : throw Invalid(path, $"{value}: expected a number from 0 to 1");
    }

    /// <summary>A single string.</summary>
    public string String(string path, string expected) => Read(path, () => config.GetString(path)!, expected);

    public double Double(string path, string expected) => Read(path, () => config.GetDouble(path), expected);

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public int Int(string path, int min, int max)
    {
        var expected = $"a whole number from {min} to {max}";
        var value = Read(path, () => config.GetInt(path), expected);
        return value >= min && value <= max ? value : throw Invalid(path, $"{value}: expected {expected}");
    }

    /// <summary>A duration as a setting is written: <c>10s</c>, <c>2.5s</c>, <c>500ms</c>.</summary>
    public static string Duration(TimeSpan duration) =>
        duration.Ticks % TimeSpan.TicksPerSecond == 0 || duration.Duration() >= TimeSpan.FromSeconds(1)
            ? $"{duration.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}s"
            : $"{duration.TotalMilliseconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}ms";

    /// <summary>True when <paramref name="text"/> is a plain number other than 0 (a duration written without its unit).</summary>
    public static bool IsBareDuration(string? text) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number) && number != 0;

    private T Read<T>(string path, Func<T> read, string expected)
    {
        // Akka reads a missing key as zero, and a list, an object or null as an empty string. It also reads an
        // unset optional substitution as an object.
        var value = config.GetValue(path);
        var shape = value switch
        {
            null => "missing",
            _ when value.IsArray() => "a list",
            _ when value.IsObject() => "an object (or an unset ${?VARIABLE} substitution)",
            _ when value.IsString() && value.GetString() is null => "null",
            _ => null,
        };
        if (shape is not null) throw Invalid(path, $"{shape}: expected {expected}");
        try
        {
            return read();
        }
        catch (OverflowException)
        {
            throw Invalid(path, $"'{config.GetString(path)}': too large; expected {expected}");
        }
        catch (Exception e) when (e is not ConfigurationException)
        {
            throw Invalid(path, $"'{config.GetString(path)}': expected {expected}");
        }
    }
}
