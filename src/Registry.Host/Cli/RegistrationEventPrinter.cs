using Akka;
using Akka.Actor;

namespace Registry.Host.Cli;

/// <summary>
/// Subscribed to <see cref="RegistrationEvent"/>s on the EventStream: prints those of one key as JSON lines,
/// then hands them to the command. Answers <see cref="Flush"/> once every event published before it is printed.
/// </summary>
internal sealed class RegistrationEventPrinter : ReceiveActor
{
    public RegistrationEventPrinter(string key, CliIo io, Action<RegistrationEvent> printed)
    {
        Receive<RegistrationEvent>(e => e.Key == key, e =>
        {
            io.WriteLine(JsonLines.Event(e, DateTimeOffset.UtcNow));
            printed(e);
        });
        Receive<RegistrationEvent>(_ => { });
        Receive<Flush>(_ => Sender.Tell(Done.Instance));
    }

    public static Props Props(string key, CliIo io, Action<RegistrationEvent> printed) =>
        Akka.Actor.Props.Create(() => new RegistrationEventPrinter(key, io, printed));

    /// <summary>Answered with <see cref="Done"/> after the events already in the mailbox.</summary>
    public sealed record Flush
    {
        public static readonly Flush Instance = new();
    }
}

/// <summary>Starts a <see cref="RegistrationEventPrinter"/> the way the commands need it.</summary>
internal static class RegistrationEventPrinting
{
    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Prints <paramref name="key"/>'s events, subscribed before anything is registered. Deregistration runs at the
    /// latest in before-service-unbind and publishes the last event: the next phase waits until it is printed,
    /// before the system stops.
    /// </summary>
    public static IActorRef PrintRegistrationEvents(this ActorSystem system, string key, CliIo io, Action<RegistrationEvent> printed)
    {
        var printer = system.ActorOf(RegistrationEventPrinter.Props(key, io, printed), "registration-events");
        system.EventStream.Subscribe(printer, typeof(RegistrationEvent));
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "registry-cli-print-events",
            () => printer.Ask<Done>(RegistrationEventPrinter.Flush.Instance, FlushTimeout));
        return printer;
    }
}
