namespace Registry.Etcd;

/// <summary>
/// Marks each request whose response came trailers-only, with the status's message: a gRPC status in the response
/// headers, without a response message, as etcd sends an error ("no leader", "request timed out"). grpc-dotnet's call
/// tracker completes at the response headers either way; <see cref="SuspectMembers"/> must not take such an error for
/// an answer, or a member cut off from the quorum would clear itself with every fast refusal.
/// </summary>
internal sealed class TrailersOnlyHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>Set on a request whose response was trailers-only: the status's message, empty when it has none.</summary>
    public static readonly HttpRequestOptionsKey<string> Refusal = new("registry.refusal");

    /// <summary>
    /// The message of etcd's refusal of a call that requires a leader (the keep-alive and watch streams) by a member that
    /// has none: cut off from the quorum, or between leaders.
    /// </summary>
    public const string NoLeader = "etcdserver: no leader";

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        if (response.Headers.Contains("grpc-status"))
        {
            // grpc-message is percent-encoded; etcd's messages are plain ASCII, which it leaves as is.
            var message = response.Headers.TryGetValues("grpc-message", out var values) ? Uri.UnescapeDataString(string.Concat(values)) : "";
            request.Options.Set(Refusal, message);
        }
        return response;
    }
}
