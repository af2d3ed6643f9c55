using Grpc.Core;

namespace Registry.Tests.Infrastructure;

/// <summary>The proxy between a gRPC client and a real etcd.</summary>
public sealed class FaultProxyEtcdTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Passes_grpc_calls_to_etcd()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        using var viaProxy = new EtcdTestClient(proxy.Endpoint);
        using var direct = etcd.CreateClient();

        await viaProxy.PutAsync("/proxy-pass/k", "v");

        Assert.Equal("v", (await direct.GetAsync("/proxy-pass/k"))?.Value);
        Assert.Equal(1, proxy.AcceptedConnections);
    }

    [Fact]
    public async Task Hold_stalls_a_call_that_completes_after_heal()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        using var client = new EtcdTestClient(proxy.Endpoint);
        await client.PutAsync("/proxy-hold/k", "before");

        proxy.Hold();
        var put = client.PutAsync("/proxy-hold/k", "during");
        await proxy.HoldingAsync(Patience);
        Assert.False(put.IsCompleted, "the call went through a held proxy");

        proxy.Heal();

        await put.WaitAsync(Patience);
        Assert.Equal("during", (await client.GetAsync("/proxy-hold/k"))?.Value);
    }

    [Fact]
    public async Task Reset_fails_calls_fast_and_a_new_call_succeeds_after_heal()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        using var client = new EtcdTestClient(proxy.Endpoint);
        using var failFast = new EtcdTestClient(proxy.Endpoint) { WaitForReady = false };
        await client.PutAsync("/proxy-reset/k", "before");
        await failFast.PutAsync("/proxy-reset/k", "before");

        proxy.Hold();
        var inFlight = client.PutAsync("/proxy-reset/k", "in flight");
        await proxy.HoldingAsync(Patience);
        proxy.Reset();

        var error = await Assert.ThrowsAsync<RpcException>(() => inFlight.WaitAsync(Patience));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        error = await Assert.ThrowsAsync<RpcException>(() => failFast.GetAsync("/proxy-reset/k").WaitAsync(Patience));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);

        proxy.Heal();

        Assert.Equal("before", (await client.GetAsync("/proxy-reset/k").WaitAsync(Patience))?.Value);
    }
}
