using Akka.Actor;

namespace Registry;

/// <summary>
/// Creates an actor through a factory: for actors with internal constructors (which reflection-based Props cannot
/// call), for state that must outlive a restart (the factory's captured arguments are reused), and for actors started
/// by the thousand (<c>Props.Create(() => new ...)</c> builds and evaluates an expression tree for every Props).
/// </summary>
internal sealed class FactoryProducer<TActor>(Func<TActor> create) : IIndirectActorProducer where TActor : ActorBase
{
    public Type ActorType => typeof(TActor);

    public ActorBase Produce() => create();

    public void Release(ActorBase actor)
    {
    }
}
