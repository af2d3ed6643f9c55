using System.Globalization;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// etcd's own Prometheus counters (GET /metrics on the client URL): the requests it received per gRPC method and its
/// CPU time, so request rates are counted where they land, not derived from what the client meant to send.
/// </summary>
public sealed record EtcdMetrics(IReadOnlyDictionary<string, double> ReceivedByMethod, double CpuSeconds)
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<EtcdMetrics> ReadAsync(string endpoint)
    {
        var text = await Http.GetStringAsync($"{endpoint.TrimEnd('/')}/metrics");
        var received = new Dictionary<string, double>(StringComparer.Ordinal);
        var cpu = 0.0;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("grpc_server_msg_received_total{", StringComparison.Ordinal))
            {
                var method = Label(line, "grpc_method");
                received[method] = received.GetValueOrDefault(method) + Value(line);
            }
            else if (line.StartsWith("process_cpu_seconds_total ", StringComparison.Ordinal))
            {
                cpu = Value(line);
            }
        }
        return new EtcdMetrics(received, cpu);
    }

    /// <summary>Messages received per method between <paramref name="before"/> and this reading.</summary>
    public Dictionary<string, double> Since(EtcdMetrics before) =>
        ReceivedByMethod
            .Select(kv => (kv.Key, Delta: kv.Value - before.ReceivedByMethod.GetValueOrDefault(kv.Key)))
            .Where(x => x.Delta > 0)
            .ToDictionary(x => x.Key, x => x.Delta);

    private static string Label(string line, string name)
    {
        var start = line.IndexOf($"{name}=\"", StringComparison.Ordinal) + name.Length + 2;
        return line[start..line.IndexOf('"', start)];
    }

    private static double Value(string line) => double.Parse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
}
