using Registry.Etcd;

namespace Registry.Tests.Etcd;

/// <summary>The watch's progress requests, on a stream that ended under them.</summary>
public sealed class ProgressRequestTests
{
    [Fact]
    public async Task Progress_requests_on_a_stream_that_ended_stop_without_failing_so_the_readers_failure_is_the_one_reported()
    {
        var requests = new EndedStream();

        await EtcdStore.RequestProgressAsync(requests, TimeSpan.FromMilliseconds(1), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, requests.Writes);
    }

    /// <summary>As grpc-dotnet's writer once the server completed the call.</summary>
    private sealed class EndedStream : Grpc.Core.IClientStreamWriter<Etcdserverpb.WatchRequest>
    {
        public int Writes { get; private set; }

        public Grpc.Core.WriteOptions? WriteOptions { get; set; }

        public Task WriteAsync(Etcdserverpb.WatchRequest message)
        {
            Writes++;
            throw new InvalidOperationException("Can't write the message because the call is complete.");
        }

        public Task CompleteAsync() => Task.CompletedTask;
    }
}
