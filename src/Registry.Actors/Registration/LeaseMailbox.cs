using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Registry.Registration;

/// <summary>
/// The mailbox of the LeaseActors (<c>registry.lease-mailbox</c> in reference.conf): a queue grown from empty under
/// Akka's lock. One actor runs per registered instance and sees a message now and then; the default mailbox's
/// concurrent queue sets out with room for 32 messages, ~1.1 KB of each of 10,000 actors.
/// </summary>
internal sealed class LeaseMailbox(Settings settings, Config config) : MailboxType(settings, config), IProducesMessageQueue<LeaseMailbox.EnvelopeQueue>
{
    /// <summary>Where the mailbox is configured.</summary>
    public const string Path = "registry.lease-mailbox";

    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new EnvelopeQueue();

    /// <summary>An unbounded queue; <see cref="BlockingMessageQueue"/> holds its lock around every call.</summary>
    internal sealed class EnvelopeQueue : BlockingMessageQueue, IUnboundedMessageQueueSemantics
    {
        private readonly Queue<Envelope> _envelopes = new();

        protected override int LockedCount => _envelopes.Count;

        protected override void LockedEnqueue(Envelope envelope) => _envelopes.Enqueue(envelope);

        protected override bool LockedTryDequeue(out Envelope envelope) => _envelopes.TryDequeue(out envelope);
    }
}
