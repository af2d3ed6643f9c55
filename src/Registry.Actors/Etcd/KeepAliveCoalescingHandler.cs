using System.Net;

namespace Registry.Etcd;

/// <summary>
/// Sends the writes of etcd's LeaseKeepAlive stream in batches. grpc-dotnet flushes a client stream after every message,
/// so each keep-alive would cost its own HTTP/2 frame, socket send and wake-ups of the connection's writer: thousands
/// a second with thousands of leases. This handler gives that one request a <see cref="CoalescingStream"/>: messages
/// written within a millisecond of a flush, or while the previous batch is on its way, go out together.
/// Every other request passes through untouched.
/// </summary>
internal sealed class KeepAliveCoalescingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    internal const string KeepAlivePath = "/etcdserverpb.Lease/LeaseKeepAlive";

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        if (request.Content is { } content && request.RequestUri?.AbsolutePath == KeepAlivePath)
        {
            request.Content = new CoalescedContent(content);
        }
        return base.SendAsync(request, ct);
    }

    /// <summary>Streams a request body through a <see cref="CoalescingStream"/>, with its headers.</summary>
    private sealed class CoalescedContent : HttpContent
    {
        private readonly HttpContent _inner;

        public CoalescedContent(HttpContent inner)
        {
            _inner = inner;
            foreach (var header in inner.Headers) Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var coalescing = new CoalescingStream(stream);
            await using (coalescing.ConfigureAwait(false))
            {
                await _inner.CopyToAsync(coalescing, context).ConfigureAwait(false);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
