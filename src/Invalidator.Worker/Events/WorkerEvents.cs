using System.Runtime.CompilerServices;

namespace Invalidator.Worker.Events;

/// <summary>
/// A reader of what the worker did (not of the change events it consumes): the metrics and the status page. It
/// implements <see cref="IEventListener{TEvent}"/> for each event it reads.
/// </summary>
internal interface IWorkerEventListener;

/// <summary>Reads one kind of event. Called on the publisher's thread, often a hot path: no I/O, no waiting, no throwing.</summary>
internal interface IEventListener<TEvent> : IWorkerEventListener
    where TEvent : struct
{
    void On(in TEvent e);
}

/// <summary>
/// Where the pipeline says what happened, once: each part publishes its events here, and the readers (metrics, status)
/// each take the ones they read. Publishing allocates nothing and tests no types: the events are structs passed by
/// reference, and each event type's readers are found once, on its first publish, and kept in a slot of their own.
/// </summary>
internal sealed class WorkerEvents(IEnumerable<IWorkerEventListener> listeners)
{
    private readonly IWorkerEventListener[] _listeners = [.. listeners];
    private readonly object?[] _readers = new object?[EventTypes.Slots];

    /// <summary>No reader: for the parts of a command that reports nothing (and for tests that read nothing).</summary>
    public static WorkerEvents None { get; } = new([]);

    public void Publish<TEvent>(in TEvent e)
        where TEvent : struct
    {
        var slot = EventType<TEvent>.Slot;
        var readers = slot < _readers.Length && _readers[slot] is { } found
            ? Unsafe.As<IEventListener<TEvent>[]>(found)
            : ReadersOf<TEvent>(slot);
        foreach (var reader in readers)
        {
            reader.On(in e);
        }
    }

    private IEventListener<TEvent>[] ReadersOf<TEvent>(int slot)
        where TEvent : struct
    {
        var readers = _listeners.OfType<IEventListener<TEvent>>().ToArray();
        if (slot < _readers.Length)
        {
            _readers[slot] = readers; // a race only builds the same array twice
        }

        return readers;
    }

    /// <summary>Numbers the event types as they are first published: each one's slot in every publisher.</summary>
    private static class EventTypes
    {
        /// <summary>More than the worker has; an event type past it is still delivered, its readers found at every publish.</summary>
        public const int Slots = 64;

        private static int _count;

        public static int Next() => Interlocked.Increment(ref _count) - 1;
    }

    private static class EventType<TEvent>
        where TEvent : struct
    {
        public static readonly int Slot = EventTypes.Next();
    }
}
