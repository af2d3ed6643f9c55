namespace Registry.Etcd;

/// <summary>
/// Marks each request whose response came trailers-only: a gRPC status in the response headers, without a message,
/// as etcd sends an error ("no leader", "request timed out"). grpc-dotnet's call tracker completes at the response
/// headers either way; <see cref="SuspectMembers"/> must not take such an error for an answer, or a member cut off
/// from the quorum would clear itself with every fast refusal.
/// </summary>
internal sealed class TrailersOnlyHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    /// <summary>Set on a request whose response was trailers-only.</summary>
    public static readonly HttpRequestOptionsKey<bool> TrailersOnly = new("registry.trailers-only");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var response = await base.SendAsync(request, ct).ConfigureAwait(false);
        if (response.Headers.Contains("grpc-status")) request.Options.Set(TrailersOnly, true);
        return response;
    }
}
