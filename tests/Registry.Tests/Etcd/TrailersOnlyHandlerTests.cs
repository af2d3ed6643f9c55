using Registry.Etcd;

namespace Registry.Tests.Etcd;

/// <summary>The handler that tells an error sent trailers-only (a gRPC status in the headers) from an answer.</summary>
public sealed class TrailersOnlyHandlerTests
{
    [Theory]
    [InlineData("14", "etcdserver: no leader", "etcdserver: no leader")]
    [InlineData("14", null, "")]
    // Percent-encoded, as gRPC sends a message beyond printable ASCII.
    [InlineData("9", "caf%C3%A9 100%25", "café 100%")]
    public async Task A_response_with_its_grpc_status_in_the_headers_marks_its_request_with_the_message(string status, string? message, string expected)
    {
        var request = await SendAsync(response =>
        {
            response.Headers.Add("grpc-status", status);
            if (message is not null) response.Headers.Add("grpc-message", message);
        });

        Assert.True(request.Options.TryGetValue(TrailersOnlyHandler.Refusal, out var refusal));
        Assert.Equal(expected, refusal);
    }

    [Fact]
    public async Task A_response_whose_status_comes_in_the_trailers_leaves_its_request_unmarked()
    {
        var request = await SendAsync(response => response.TrailingHeaders.Add("grpc-status", "0"));

        Assert.False(request.Options.TryGetValue(TrailersOnlyHandler.Refusal, out _));
    }

    private static async Task<HttpRequestMessage> SendAsync(Action<HttpResponseMessage> respond)
    {
        using var invoker = new HttpMessageInvoker(new TrailersOnlyHandler(new Responding(respond)));
        var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:2379/etcdserverpb.KV/Range");
        using var _ = await invoker.SendAsync(request, CancellationToken.None);
        return request;
    }

    private sealed class Responding(Action<HttpResponseMessage> respond) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = new HttpResponseMessage(System.Net.HttpStatusCode.OK) { RequestMessage = request };
            respond(response);
            return Task.FromResult(response);
        }
    }
}
