using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Registry.Host.Sample;

/// <summary>The host:port a sample server registers, turned into what Kestrel listens on (HTTP/2 cleartext).</summary>
internal sealed record SampleAddress(string Host, int Port)
{
    /// <summary>Splits host:port; port 0 asks for a free port.</summary>
    /// <exception cref="ArgumentException">Not host:port with a port from 0 to 65535.</exception>
    public static SampleAddress Parse(string address)
    {
        var colon = address.LastIndexOf(':');
        if (colon > 0
            && int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            && port <= 65535
            && InstanceValidation.CheckAddress($"{address[..colon]}:1") is null)
        {
            return new SampleAddress(address[..colon], port);
        }
        throw new ArgumentException($"address '{address}': expected host:port with port 0-65535", nameof(address));
    }

    /// <summary>Adds the listener: gRPC over HTTP/2 without TLS, so clients connect with prior knowledge.</summary>
    public void Listen(KestrelServerOptions kestrel)
    {
        static void H2c(ListenOptions listen) => listen.Protocols = HttpProtocols.Http2;

        var literal = Host.StartsWith('[') ? Host[1..^1] : Host;
        if (IPAddress.TryParse(literal, out var ip)) kestrel.Listen(ip, Port, H2c);
        // Kestrel cannot pick one free port for both loopback addresses.
        else if (Host == "localhost" && Port == 0) kestrel.Listen(IPAddress.Loopback, 0, H2c);
        else if (Host == "localhost") kestrel.ListenLocalhost(Port, H2c);
        else kestrel.ListenAnyIP(Port, H2c);
    }

    /// <summary>The address to register once <paramref name="server"/> listens: this host, with the port it got.</summary>
    public string Listening(IServer server)
    {
        if (Port != 0) return $"{Host}:{Port}";
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("the server does not listen yet");
        return $"{Host}:{new Uri(bound).Port.ToString(CultureInfo.InvariantCulture)}";
    }
}
