using Akka.Actor;
using Akka.Configuration;

namespace Registry.Benchmarks.Scenarios;

/// <summary>An actor system using the registry against the bench's etcd, as a service process would.</summary>
public static class RegistrySystem
{
    public static ActorSystem Create(string name, string endpoint, long ttlSeconds = 10, string extraHocon = "")
    {
        var hocon = $$"""
            akka.loglevel = WARNING
            akka.stdout-loglevel = WARNING
            akka.log-dead-letters = off
            akka.log-dead-letters-during-shutdown = off
            registry {
              etcd.endpoints = ["{{endpoint}}"]
              ttl = {{ttlSeconds}}s
            }
            {{extraHocon}}
            """;
        return ActorSystem.Create(name, ConfigurationFactory.ParseString(hocon));
    }
}
