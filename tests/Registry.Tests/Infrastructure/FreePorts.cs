using System.Net;
using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// Hands out TCP ports on 127.0.0.1 for the servers the tests start (etcd, Kestrel) and for addresses nothing may
/// listen on. A port is handed out once per test process and stays its holder's for the whole run: an etcd killed and
/// restarted binds its ports again, an address meant to refuse connections keeps refusing them. The ports lie below
/// the kernel's ephemeral range (Linux: 32768-60999 by default, /proc/sys/net/ipv4/ip_local_port_range), so no
/// outgoing connection takes one as its local end; a range that starts too low for a free block fails the run, naming
/// it. Test processes running at the same time (several checkouts) each take a block of their own, claimed by locking
/// a file, which the OS releases when the process ends.
/// </summary>
public static class FreePorts
{
    private const int FirstPort = 20000;
    private const int BlockSize = 1000;
    private const int Blocks = 12;

    private static readonly object Gate = new();
    private static FileStream? _blockLock;
    private static int _blockStart;
    private static int _taken;

    /// <summary>Returns <paramref name="count"/> ports never handed out before in this run, free right now.</summary>
    public static int[] Take(int count)
    {
        lock (Gate)
        {
            if (_blockLock is null) ClaimBlock();
            var ports = new int[count];
            for (var i = 0; i < count; i++) ports[i] = NextFree();
            return ports;
        }
    }

    private static void ClaimBlock()
    {
        var ephemeral = EphemeralRangeStart();
        for (var block = 0; block < Blocks; block++)
        {
            var start = FirstPort + block * BlockSize;
            if (start + BlockSize > ephemeral)
            {
                throw new InvalidOperationException(
                    $"no free port block from {FirstPort} below the ephemeral range, which starts at {ephemeral} ({RangeFile})");
            }
            try
            {
                // FileShare.None takes an exclusive flock: a block held by another running test process fails here.
                _blockLock = new FileStream(Path.Combine(Path.GetTempPath(), $"registry-tests-ports-{start}.lock"),
                    FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                _blockStart = start;
                return;
            }
            catch (IOException)
            {
                // another test process has this block
            }
        }

        throw new InvalidOperationException($"all {Blocks} port blocks from {FirstPort} are held by other test processes");
    }

    private const string RangeFile = "/proc/sys/net/ipv4/ip_local_port_range";

    /// <summary>The first port the kernel may give an outgoing connection; Linux's default when it cannot be read.</summary>
    private static int EphemeralRangeStart()
    {
        try
        {
            return int.Parse(File.ReadAllText(RangeFile).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0]);
        }
        catch (IOException)
        {
            return 32768;
        }
    }

    private static int NextFree()
    {
        while (_taken < BlockSize)
        {
            var port = _blockStart + _taken++;
            // Something outside the tests may listen on a port of the block: skip it.
            if (CanListen(port)) return port;
        }

        throw new InvalidOperationException($"this test process has used all {BlockSize} ports from {_blockStart}");
    }

    private static bool CanListen(int port)
    {
        using var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
