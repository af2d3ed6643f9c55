using System.Collections.Concurrent;
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

    [Fact]
    public async Task Every_channel_is_disposed_with_the_pool_even_one_asked_for_while_it_is_disposed()
    {
        await using var process = new RegistryUnderTest(["http://127.0.0.1:1"]);
        var created = new ConcurrentBag<InstanceChannel>();
        var handedOut = new ConcurrentBag<InstanceChannel>();
        var refused = 0;
        for (var round = 0; round < 100; round++)
        {
            var channels = new InstanceChannels(process.System, "user", UserCallSettings.Default, address =>
            {
                var channel = InstanceChannel.Create(address, UserCallSettings.Default);
                created.Add(channel);
                return channel;
            });
            // Four threads ask for channels to new addresses until the pool refuses; it is disposed once each has one.
            var first = Enumerable.Range(0, 4).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            var getters = first.Select((started, thread) => Task.Run(() =>
            {
                for (var port = 1; ; port++)
                {
                    try
                    {
                        handedOut.Add(channels.Get($"127.0.{thread}.{round}:{port}"));
                        started.TrySetResult();
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused);
                        return;
                    }
                }
            })).ToArray();
            await Task.WhenAll(first.Select(f => f.Task));
            await channels.DisposeAsync();
            await Task.WhenAll(getters);
        }

        Assert.Equal(400, refused);
        // A channel created for a Get the pool then refused was never handed out: the pool must dispose it as well.
        var open = created.Count(c => !IsDisposed(c));
        Assert.True(open == 0, $"{open} of {created.Count} channels created were left open ({handedOut.Count} handed out)");
    }

    private static bool IsDisposed(InstanceChannel channel)
    {
        try
        {
            channel.Channel.CreateCallInvoker();
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }
}
