using System.Collections.Frozen;
using System.Text.Json;
using Akka.Actor;

namespace Registry.Registration;

/// <summary>How registration events are named and published: counted on the <c>Registry</c> meter, then put on the EventStream.</summary>
internal static class RegistrationEvents
{
    private static readonly FrozenDictionary<RegistrationEventKind, string> Names = Enum.GetValues<RegistrationEventKind>()
        .ToFrozenDictionary(kind => kind, kind => JsonNamingPolicy.KebabCaseLower.ConvertName(kind.ToString()));

    /// <summary>The kind as <c>register</c> prints it and the meter tags it: <c>registered</c>, <c>renew-failed</c>, …</summary>
    public static string Name(RegistrationEventKind kind) => Names[kind];

    public static void Publish(ActorSystem system, RegistrationEvent e)
    {
        RegistryMetrics.Count(e);
        system.EventStream.Publish(e);
    }
}
