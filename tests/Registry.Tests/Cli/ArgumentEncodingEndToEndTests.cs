using System.Diagnostics;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>Arguments whose bytes are not UTF-8, given to the built <c>registry</c> as a shell gives them.</summary>
public sealed class ArgumentEncodingEndToEndTests
{
    [Theory]
    [InlineData(@"register --service user --address 127.0.0.1:8080 --id ""$(printf 'a\377b')""",
        @"registry: --id 'a\udcffb': not UTF-8 (\udcff is the byte 0xff); give it in UTF-8")]
    [InlineData(@"""$(printf 'li\342\202st')""",
        @"registry: argument 1 'li\udce2\udc82st': not UTF-8 (\udce2 is the byte 0xe2); give it in UTF-8")]
    public async Task An_argument_that_is_not_UTF8_exits_2_naming_it_rather_than_reading_as_another(string arguments, string expected)
    {
        // Read as .NET reads it, a\377b would be a\uFFFDb: the same id as a\376b.
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"exec dotnet \"$0\" {arguments}");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        using var registry = ChildProcess.Start(start);
        var stderr = registry.Process.StandardError.ReadToEndAsync();
        var stdout = await registry.Process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await registry.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, registry.Process.ExitCode);
        Assert.Equal(expected, (await stderr).TrimEnd('\n'));
        Assert.Empty(stdout);
    }
}
