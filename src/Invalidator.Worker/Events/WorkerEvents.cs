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
/// each take the ones they read. Publishing allocates nothing: the events are structs passed by reference to a fixed
/// array of listeners.
/// </summary>
internal sealed class WorkerEvents(IEnumerable<IWorkerEventListener> listeners)
{
    private readonly IWorkerEventListener[] _listeners = [.. listeners];

    /// <summary>No reader: for the parts of a command that reports nothing (and for tests that read nothing).</summary>
    public static WorkerEvents None { get; } = new([]);

    public void Publish<TEvent>(in TEvent e)
        where TEvent : struct
    {
        foreach (var listener in _listeners)
        {
            if (listener is IEventListener<TEvent> reader)
            {
                reader.On(in e);
            }
        }
    }
}
