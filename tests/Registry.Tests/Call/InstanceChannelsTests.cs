using Registry.Host.Client;
using Registry.Tests.Registration;

namespace Registry.Tests.Call;

/// <summary>The channel pool of the client path: who holds, and so disposes, each channel it creates.</summary>
public sealed class InstanceChannelsTests
{
    [Fact]
    public async Task A_channel_created_while_its_address_is_retired_is_handed_to_the_retiring_side()
    {
        // etcd unreachable: the pool's follower never learns a membership, so only this test retires.
        await using var process = new RegistryUnderTest(["http://127.0.0.1:1"]);
        var channels = new InstanceChannels(process.System, "user", UserCallSettings.Default);
        const string address = "127.0.0.1:1";
        int leaked = 0, twice = 0;
        for (var i = 0; i < 20_000; i++)
        {
            // Get and Retire race; a final Retire takes what a Get created after the racing one. Every channel handed
            // out must be handed back by exactly one of them, whoever won: nobody else would dispose it.
            using var go = new Barrier(2);
            var get = Task.Run(() =>
            {
                go.SignalAndWait();
                return channels.Get(address);
            });
            var retire = Task.Run(() =>
            {
                go.SignalAndWait();
                return channels.Retire(address);
            });
            var handedOut = await get;
            InstanceChannel?[] retired = [await retire, channels.Retire(address)];
            if (retired[0] is not null && retired[0] == retired[1]) twice++;
            if (!retired.Contains(handedOut))
            {
                leaked++;
                handedOut.Dispose();
            }
            foreach (var channel in retired.Distinct()) channel?.Dispose();
        }
        await channels.DisposeAsync();

        Assert.Equal((0, 0), (leaked, twice));
    }
}
