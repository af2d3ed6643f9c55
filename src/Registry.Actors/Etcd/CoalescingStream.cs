using System.Buffers;
using System.Threading.Channels;

namespace Registry.Etcd;

/// <summary>
/// A write-only stream that buffers what is written and lets one background loop send it: a flush asks that loop for
/// a send and returns at once, so the writes and flushes asked while one send is in flight go out together in the next.
/// A send that fails fails every later write and flush. Disposal sends what is still buffered.
/// </summary>
internal sealed class CoalescingStream : Stream
{
    /// <summary>Bytes buffered before a write fails: the inner stream has stopped draining.</summary>
    public const int MaxBuffered = 1024 * 1024;

    /// <summary>
    /// How long a send waits for more writes after the flush that asked for it. A writer handing over a burst of
    /// messages is slower per message than a send, so sending at once would split the burst into many small sends.
    /// </summary>
    public static readonly TimeSpan Gathering = TimeSpan.FromMilliseconds(1);

    private readonly Stream _inner;
    private readonly object _gate = new();
    private readonly Channel<bool> _flushes = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly Task _loop;
    private ArrayBufferWriter<byte> _buffered = new();
    private ArrayBufferWriter<byte> _sending = new();
    private Exception? _failure;

    public CoalescingStream(Stream inner)
    {
        _inner = inner;
        _loop = SendLoopAsync();
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        lock (_gate)
        {
            if (_failure is not null) throw new IOException("the stream failed to send", _failure);
            if (_buffered.WrittenCount + buffer.Length > MaxBuffered)
            {
                throw new IOException($"more than {MaxBuffered} bytes buffered: the connection is not draining");
            }
            buffer.CopyTo(_buffered.GetSpan(buffer.Length));
            _buffered.Advance(buffer.Length);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        try
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (IOException e)
        {
            return ValueTask.FromException(e);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override void Flush() => FlushAsync().GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            if (_failure is not null) return Task.FromException(new IOException("the stream failed to send", _failure));
        }
        _flushes.Writer.TryWrite(true);
        return Task.CompletedTask;
    }

    private async Task SendLoopAsync()
    {
        var flushes = _flushes.Reader;
        try
        {
            while (await flushes.WaitToReadAsync().ConfigureAwait(false))
            {
                await Task.Delay(Gathering).ConfigureAwait(false);
                flushes.TryRead(out _);
                ArrayBufferWriter<byte> batch;
                lock (_gate)
                {
                    batch = _buffered;
                    (_buffered, _sending) = (_sending, batch);
                }
                if (batch.WrittenCount > 0) await _inner.WriteAsync(batch.WrittenMemory).ConfigureAwait(false);
                batch.ResetWrittenCount();
                await _inner.FlushAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            lock (_gate) _failure = e;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        _flushes.Writer.TryWrite(true);
        _flushes.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
