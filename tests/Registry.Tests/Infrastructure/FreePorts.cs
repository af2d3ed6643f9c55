using System.Net;
using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

/// <summary>Picks TCP ports on 127.0.0.1 that are free right now.</summary>
public static class FreePorts
{
    /// <summary>
    /// Returns <paramref name="count"/> distinct free ports. All listeners are held until every port is picked so
    /// the kernel cannot hand out the same port twice; another process may still take one before it is used, which
    /// is why the fixtures retry a start that fails to bind.
    /// </summary>
    public static int[] Take(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }
}
