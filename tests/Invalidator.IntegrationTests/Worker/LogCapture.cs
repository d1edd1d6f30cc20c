using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Keeps every log event of the workers a harness starts, so tests can wait for what the worker reports.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    /// <param name="Exception">The logged exception's text (type, message, stack), when there is one.</param>
    public sealed record Entry(string Category, int EventId, LogLevel Level, string Message, string? Exception = null);

    public IReadOnlyCollection<Entry> Entries => _entries;

    public int Count(int eventId) => _entries.Count(e => e.EventId == eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<Entry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            entries.Enqueue(new Entry(category, eventId.Id, logLevel, formatter(state, exception), exception?.ToString()));
    }
}
