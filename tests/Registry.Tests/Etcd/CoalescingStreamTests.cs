using System.Text;
using System.Threading.Channels;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

/// <summary>The stream that batches the keep-alive stream's writes, over an inner stream that records what reaches it.</summary>
public sealed class CoalescingStreamTests
{
    [Fact]
    public async Task Writes_flushed_while_a_send_is_in_flight_go_out_together_in_the_next_send()
    {
        var held = new TaskCompletionSource();
        var inner = new RecordingStream { NextWrite = held };
        var stream = new CoalescingStream(inner);

        await WriteAndFlushAsync(stream, "a");
        Assert.Equal("write a", await inner.NextAsync());
        await WriteAndFlushAsync(stream, "b");
        await WriteAndFlushAsync(stream, "c");
        held.SetResult();

        Assert.Equal(["flush", "write bc", "flush"], [await inner.NextAsync(), await inner.NextAsync(), await inner.NextAsync()]);
        await stream.DisposeAsync();
        Assert.Equal(["flush"], inner.Rest());
    }

    [Fact]
    public async Task A_flush_with_nothing_written_still_flushes_the_inner_stream()
    {
        var inner = new RecordingStream();
        await using var stream = new CoalescingStream(inner);

        await stream.FlushAsync();

        Assert.Equal("flush", await inner.NextAsync());
    }

    [Fact]
    public async Task Disposal_sends_what_is_still_buffered()
    {
        var inner = new RecordingStream();
        var stream = new CoalescingStream(inner);
        await stream.WriteAsync("unflushed"u8.ToArray());

        await stream.DisposeAsync();

        Assert.Equal(["write unflushed", "flush"], inner.Rest());
    }

    [Fact]
    public async Task A_failed_send_fails_every_later_write_and_flush_with_its_cause()
    {
        var failing = new TaskCompletionSource();
        var inner = new RecordingStream { NextWrite = failing };
        await using var stream = new CoalescingStream(inner);
        await WriteAndFlushAsync(stream, "a");
        Assert.Equal("write a", await inner.NextAsync());

        failing.SetException(new IOException("connection reset"));
        // The send loop may not await the write yet and then meets the failure on its own thread: once it has, a
        // flush fails.
        Assert.True(SpinWait.SpinUntil(() => stream.FlushAsync().IsFaulted, TimeSpan.FromSeconds(10)));

        var write = await Assert.ThrowsAsync<IOException>(() => stream.WriteAsync("b"u8.ToArray()).AsTask());
        var flush = await Assert.ThrowsAsync<IOException>(() => stream.FlushAsync());
        Assert.All([write, flush], e => Assert.Equal("connection reset", e.InnerException?.Message));
    }

    [Fact]
    public async Task A_write_beyond_the_buffer_bound_fails_naming_the_bound_and_adds_nothing()
    {
        var held = new TaskCompletionSource();
        var inner = new RecordingStream { NextWrite = held };
        var stream = new CoalescingStream(inner);
        await WriteAndFlushAsync(stream, "a");
        Assert.Equal("write a", await inner.NextAsync());

        var error = await Assert.ThrowsAsync<IOException>(() => stream.WriteAsync(new byte[CoalescingStream.MaxBuffered + 1]).AsTask());

        Assert.Contains($"more than {CoalescingStream.MaxBuffered} bytes", error.Message);
        await WriteAndFlushAsync(stream, "b");
        held.SetResult();
        Assert.Equal(["flush", "write b", "flush"], [await inner.NextAsync(), await inner.NextAsync(), await inner.NextAsync()]);
        await stream.DisposeAsync();
    }

    private static async Task WriteAndFlushAsync(Stream stream, string text)
    {
        await stream.WriteAsync(Encoding.ASCII.GetBytes(text));
        await stream.FlushAsync();
    }

    /// <summary>Records each write and flush in order; <see cref="NextWrite"/>, when set, is what the next write returns.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly Channel<string> _events = Channel.CreateUnbounded<string>();

        public TaskCompletionSource? NextWrite { get; set; }

        public async Task<string> NextAsync() => await _events.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        /// <summary>Every event not read yet.</summary>
        public List<string> Rest()
        {
            var rest = new List<string>();
            while (_events.Reader.TryRead(out var e)) rest.Add(e);
            return rest;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            _events.Writer.TryWrite("write " + Encoding.ASCII.GetString(buffer.Span));
            var next = NextWrite;
            NextWrite = null;
            return next is null ? ValueTask.CompletedTask : new ValueTask(next.Task);
        }

        public override Task FlushAsync(CancellationToken ct)
        {
            _events.Writer.TryWrite("flush");
            return Task.CompletedTask;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
