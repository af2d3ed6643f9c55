using System.Net.Http.Headers;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

/// <summary>The handler that gives etcd's keep-alive stream, and only it, a batching request body.</summary>
public sealed class KeepAliveCoalescingHandlerTests
{
    [Fact]
    public async Task The_keep_alive_request_gets_a_batching_body_with_the_same_headers_and_bytes()
    {
        var original = GrpcBody("keep-alive bytes");
        var sent = await SendAsync("/etcdserverpb.Lease/LeaseKeepAlive", original);

        Assert.NotSame(original, sent);
        Assert.Equal("application/grpc", sent.Headers.ContentType?.MediaType);
        using var received = new MemoryStream();
        await sent.CopyToAsync(received);
        Assert.Equal("keep-alive bytes", System.Text.Encoding.ASCII.GetString(received.ToArray()));
    }

    [Theory]
    [InlineData("/etcdserverpb.KV/Range")]
    [InlineData("/etcdserverpb.Watch/Watch")]
    [InlineData("/etcdserverpb.Lease/LeaseGrant")]
    public async Task Every_other_request_passes_through_untouched(string path)
    {
        var original = GrpcBody("other bytes");

        Assert.Same(original, await SendAsync(path, original));
    }

    private static ByteArrayContent GrpcBody(string text)
    {
        var content = new ByteArrayContent(System.Text.Encoding.ASCII.GetBytes(text));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        return content;
    }

    private static async Task<HttpContent> SendAsync(string path, HttpContent body)
    {
        var capture = new CapturingHandler();
        using var invoker = new HttpMessageInvoker(new KeepAliveCoalescingHandler(capture));
        // Not disposed: that would dispose the body the test reads afterwards.
        var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:2379" + path) { Content = body };
        using var _ = await invoker.SendAsync(request, CancellationToken.None);
        return capture.Content!;
    }

    private sealed class CapturingHandler : HttpMessageHandler
    {
        public HttpContent? Content { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            Content = request.Content;
            return Task.FromResult(new HttpResponseMessage());
        }
    }
}
