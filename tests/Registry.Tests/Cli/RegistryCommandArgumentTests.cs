using Registry.Host.Cli;

namespace Registry.Tests.Cli;

/// <summary>The parser runs in-process: no etcd, no actor system is started for a bad command line.</summary>
public sealed class RegistryCommandArgumentTests
{
    private const string Register = "register --service user --address 127.0.0.1:8080";
    private const string Serve = "serve --service user --address 127.0.0.1:8080";
    // The longest DNS name, 253 characters: with its port over the 256 an id may have.
    private const string LongHost = "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh.hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh.hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh.hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh";

    [Theory]
    [InlineData("register --service user --address notanaddress", "registry: --address 'notanaddress': expected host:port with port 1-65535")]
    [InlineData("register --service user --address 127.0.0.1:0", "registry: --address '127.0.0.1:0': expected host:port with port 1-65535")]
    [InlineData("register --service user --address api..example.com:8080",
        "registry: --address 'api..example.com:8080': expected host:port with a DNS name, a dotted IPv4 address or a bracketed IPv6 address without zone as host")]
    [InlineData(Register + " --ttl 0", "registry: --ttl 0: expected whole seconds from 2 to 3600")]
    [InlineData(Register + " --ttl 3601", "registry: --ttl 3601: expected whole seconds from 2 to 3600")]
    [InlineData(Register + " --ttl ten", "registry: --ttl 'ten': expected whole seconds from 2 to 3600")]
    [InlineData("register --address 127.0.0.1:8080", "registry: --service: missing; 'registry register' requires it")]
    [InlineData("register --service user", "registry: --address: missing; 'registry register' requires it")]
    [InlineData("register --service a/b --address 127.0.0.1:8080", "registry: --service 'a/b': expected 1-128 characters of letters, digits, '.', '_' or '-'")]
    [InlineData(Register + " --id a/b", "registry: --id 'a/b': expected 1-256 characters without '/', control or format characters, line separators, unpaired surrogates or white space at either end")]
    [InlineData("register --service user --address " + LongHost + ":8080", "registry: --address '" + LongHost + ":8080': expected 1-256 characters without '/', control or format characters, line separators, unpaired surrogates or white space at either end, as the id it gives when --id is not")]
    [InlineData(Register + " --meta novalue", "registry: --meta 'novalue': expected KEY=VALUE with a non-empty KEY")]
    [InlineData(Register + " --meta =v", "registry: --meta '=v': expected KEY=VALUE with a non-empty KEY")]
    [InlineData(Register + " --meta a=1 --meta a=2", "registry: --meta 'a=2': key 'a' given twice")]
    [InlineData(Register + " --weight 0", "registry: --weight 0: expected a positive integer")]
    [InlineData(Register + " --weight heavy", "registry: --weight 'heavy': expected a positive integer")]
    [InlineData(Register + " --weight 3000000000", "registry: --weight 3000000000: too large; expected at most 2147483647")]
    [InlineData(Register + " --ttl 99999999999999999999", "registry: --ttl '99999999999999999999': expected whole seconds from 2 to 3600")]
    [InlineData(Register + " --etcd notaurl", "registry: --etcd 'notaurl': expected a URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd localhost:2379", "registry: --etcd 'localhost:2379': expected a URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd http://a:2379,https://b:2379", "registry: --etcd: mixes http and https; use one scheme for all endpoints")]
    [InlineData(Register + " --etcd http://a:2379,,http://b:2379", "registry: --etcd 'http://a:2379,,http://b:2379': an empty URL among the others")]
    [InlineData(Register + " --etcd http://127.0.0.1:0", "registry: --etcd 'http://127.0.0.1:0': port 0 has no place in an etcd URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd http://u:p@etcd:2379", "registry: --etcd 'http://u:p@etcd:2379': user information has no place in an etcd URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd http://etcd:2379/v3", "registry: --etcd 'http://etcd:2379/v3': a path has no place in an etcd URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd http://etcd:2379/?x=1", "registry: --etcd 'http://etcd:2379/?x=1': a query has no place in an etcd URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd http://etcd:2379#a", "registry: --etcd 'http://etcd:2379#a': a fragment has no place in an etcd URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --etcd http://[fe80::1%25lo]:2379", "registry: --etcd 'http://[fe80::1%25lo]:2379': an IPv6 zone has no place in an etcd URL like http://127.0.0.1:2379")]
    [InlineData(Register + " --prefix services", "registry: --prefix 'services': expected a path that starts and ends with '/'")]
    [InlineData(Register + " --ttl", "registry: --ttl: missing value")]
    [InlineData(Register + " --ttl 5 --ttl 6", "registry: --ttl: given 2 times; expected once")]
    [InlineData(Register + " --bogus", "registry: '--bogus': unknown option for 'registry register'")]
    [InlineData("list --service user extra", "registry: 'extra': unexpected argument for 'registry list'")]
    [InlineData("serve --address 127.0.0.1:8080", "registry: --service: missing; 'registry serve' requires it")]
    [InlineData("serve --service user", "registry: --address: missing; 'registry serve' requires it")]
    [InlineData("serve --service user --address notanaddress", "registry: --address 'notanaddress': expected host:port with port 1-65535")]
    [InlineData(Serve + " --ttl 1", "registry: --ttl 1: expected whole seconds from 2 to 3600")]
    [InlineData(Serve + " --weight 0", "registry: --weight 0: expected a positive integer")]
    [InlineData(Serve + " --meta novalue", "registry: --meta 'novalue': expected KEY=VALUE with a non-empty KEY")]
    [InlineData(Serve + " --drain soon", "registry: --drain 'soon': expected seconds from 0 to 300, such as 2 or 0.5")]
    [InlineData(Serve + " --drain NaN", "registry: --drain 'NaN': expected seconds from 0 to 300, such as 2 or 0.5")]
    [InlineData(Serve + " --drain Infinity", "registry: --drain 'Infinity': expected seconds from 0 to 300, such as 2 or 0.5")]
    [InlineData(Serve + " --drain 301", "registry: --drain 301: expected seconds from 0 to 300, such as 2 or 0.5")]
    [InlineData(Serve + " --drain 30", "registry: --drain 30: must be shorter than registry.serve.shutdown-timeout (30s), which bounds the whole stop")]
    [InlineData(Serve + " --drain", "registry: --drain: missing value")]
    [InlineData(Serve + " --bogus", "registry: '--bogus': unknown option for 'registry serve'")]
    [InlineData("watch --service a/b", "registry: --service 'a/b': expected 1-128 characters of letters, digits, '.', '_' or '-'")]
    [InlineData("watch --json extra", "registry: 'extra': unexpected argument for 'registry watch'")]
    [InlineData("watch --follow", "registry: '--follow': unknown option for 'registry watch'")]
    [InlineData("--json list", "registry: '--json': an option of 'registry list'; give it after 'list'")]
    [InlineData("--service a watch", "registry: '--service': an option of 'registry watch'; give it after 'watch'")]
    [InlineData("--json register --service a --address 127.0.0.1:1", "registry: '--json': unknown option for 'registry register'")]
    [InlineData("demo --etcd http://10.0.0.1:2379", "registry: --etcd: does not apply to demo, which starts an etcd of its own")]
    [InlineData("demo --prefix /x/", "registry: --prefix: does not apply to demo, which starts an etcd of its own")]
    [InlineData("register --service user --address 127.0.0.1:080", "registry: --address '127.0.0.1:080': expected the port without leading zeros")]
    [InlineData("frobnicate", "registry: 'frobnicate': unknown command; expected one of: register, list, watch, serve, call, demo")]
    [InlineData("", "registry: no command given; expected one of: register, list, watch, serve, call, demo (see 'registry --help')")]
    // A value left out before the next option: the parser would take that option as the value.
    [InlineData(Register + " --id --ttl 5", "registry: --id: missing value ('--ttl' is an option)")]
    [InlineData("register --address 127.0.0.1:8080 --service -v", "registry: --service: missing value ('-v' is an option)")]
    [InlineData("register --service --address 127.0.0.1:8080", "registry: --service: missing value ('--address' is an option)")]
    [InlineData("list --etcd --service user", "registry: --etcd: missing value ('--service' is an option)")]
    [InlineData(Register + " --id=-v --ttl 0", "registry: --ttl 0: expected whole seconds from 2 to 3600")]
    public async Task Bad_argument_exits_2_with_one_line_naming_it(string commandLine, string expected)
    {
        var (code, stdout, stderr) = await RunAsync(commandLine);

        Assert.Equal(2, code);
        Assert.Equal(expected, stderr.TrimEnd('\n'));
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task An_argument_starting_with_an_at_sign_is_a_value_not_a_file_to_read()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "user");
        try
        {
            var (code, _, stderr) = await RunAsync(["list", "--service", "@" + file]);
            Assert.Equal(2, code);
            Assert.Equal($"registry: --service '@{file}': expected 1-128 characters of letters, digits, '.', '_' or '-'", stderr.TrimEnd('\n'));

            (code, _, stderr) = await RunAsync(["@/tmp"]);
            Assert.Equal(2, code);
            Assert.Equal("registry: '@/tmp': unknown command; expected one of: register, list, watch, serve, call, demo", stderr.TrimEnd('\n'));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData(new[] { "register", "--service", "user", "--address", "127.0.0.1:8080", "--version", "a\nb" },
        @"registry: --version 'a\nb': expected a non-empty string without control characters")]
    [InlineData(new[] { "register", "--service", "user", "--address", "127.0.0.1:8080", "--ttl", "\u001b[2J" },
        @"registry: --ttl '\u001b[2J': expected whole seconds from 2 to 3600")]
    [InlineData(new[] { "register", "--service", "user", "--address", "127.0.0.1:8080", "--meta", "a\rb" },
        @"registry: --meta 'a\rb': expected KEY=VALUE with a non-empty KEY")]
    [InlineData(new[] { "list", "--etcd", "http://a\n:2379" }, @"registry: --etcd 'http://a\n:2379': expected a URL like http://127.0.0.1:2379")]
    [InlineData(new[] { "list", "--bo\ngus" }, @"registry: '--bo\ngus': unknown option for 'registry list'")]
    [InlineData(new[] { "fr\tob" }, @"registry: 'fr\tob': unknown command; expected one of: register, list, watch, serve, call, demo")]
    [InlineData(new[] { "call", "--service", "user", "--lb", "x\ny" }, @"registry: --lb 'x\ny': expected one of random, round-robin, weighted, p2c, hash")]
    public async Task A_bad_value_with_control_characters_is_named_with_escapes_on_one_line(string[] args, string expected)
    {
        var (code, _, stderr) = await RunAsync(args);

        Assert.Equal(2, code);
        Assert.Equal(expected, stderr.TrimEnd('\n'));
    }

    [Fact]
    public async Task Bad_REGISTRY_ETCD_exits_2_naming_the_variable()
    {
        var (code, stdout, stderr) = await RunAsync(Register, name => name == CommonOptions.EtcdVariable ? "etcd:2379" : null);

        Assert.Equal(2, code);
        Assert.Equal("registry: REGISTRY_ETCD 'etcd:2379': expected a URL like http://127.0.0.1:2379", stderr.TrimEnd('\n'));
        Assert.Empty(stdout);
    }

    [Theory]
    [InlineData("loud")]
    [InlineData("0")]
    [InlineData("2")]
    public async Task Bad_REGISTRY_LOG_LEVEL_exits_2_naming_the_variable_and_the_levels(string level)
    {
        var (code, stdout, stderr) = await RunAsync("list --etcd http://127.0.0.1:1", name => name == CommonOptions.LogLevelVariable ? level : null);

        Assert.Equal(2, code);
        Assert.Equal($"registry: REGISTRY_LOG_LEVEL '{level}': expected one of Trace, Debug, Information, Warning, Error, Critical, None", stderr.TrimEnd('\n'));
        Assert.Empty(stdout);
    }

    [Fact]
    public async Task Too_much_metadata_exits_2_naming_meta()
    {
        var metadata = string.Join(' ', Enumerable.Range(0, InstanceValidation.MaxMetadataEntries + 1).Select(i => $"--meta k{i}=v"));

        var (code, _, stderr) = await RunAsync($"{Register} {metadata}");

        Assert.Equal(2, code);
        Assert.Equal($"registry: --meta: {InstanceValidation.MaxMetadataEntries + 1} entries, at most {InstanceValidation.MaxMetadataEntries} allowed", stderr.TrimEnd('\n'));
    }

    [Theory]
    [InlineData("meta")]
    [InlineData("version")]
    public async Task An_instance_too_large_as_a_whole_exits_2_naming_the_options_that_add_to_its_size(string option)
    {
        var value = new string('x', InstanceValidation.MaxMetadataValueBytes);
        var large = option == "meta"
            ? string.Join(' ', Enumerable.Range(0, 20).Select(i => $"--meta k{i}={value}"))
            : $"--version {new string('v', InstanceValidation.MaxEncodedBytes)}";

        var (code, _, stderr) = await RunAsync($"{Register} {large}");

        Assert.Equal(2, code);
        Assert.Matches(
            $@"^registry: instance: encoded value is \d+ bytes, at most {InstanceValidation.MaxEncodedBytes} allowed \(--address, --id, --version and --meta together\)$",
            stderr.TrimEnd('\n'));
    }

    [Fact]
    public async Task Help_goes_to_stdout_and_exits_0()
    {
        var (code, stdout, stderr) = await RunAsync("register --help");

        Assert.Equal(0, code);
        Assert.Contains("--address", stdout);
        Assert.Empty(stderr);
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsync(string commandLine, Func<string, string?>? environment = null) =>
        RunAsync(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries), environment);

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args, Func<string, string?>? environment = null)
    {
        var stdout = new StringWriter { NewLine = "\n" };
        var stderr = new StringWriter { NewLine = "\n" };
        var code = await RegistryCommand.InvokeAsync(args, stdout, stderr, environment ?? (_ => null));
        return (code, stdout.ToString(), stderr.ToString());
    }
}
