using System.Runtime.InteropServices;
using System.Threading.Channels;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.RulesReload;

/// <summary>
/// Reloads the rules file while the worker runs: when it changes (<c>Invalidator:Rules:Watch</c>, once it has been
/// quiet for <c>Invalidator:Rules:Debounce</c>, since editors and deployments write in steps) and on SIGHUP (at once).
/// It watches the file's directory rather than the file: editors replace the file, and a Kubernetes ConfigMap swaps a
/// <c>..data</c> symlink beside it. Only the rules file can change this way; the configuration is read once at start.
/// </summary>
internal sealed class RulesWatcher : BackgroundService
{
    private readonly LiveRules _live;
    private readonly RulesReloader _reloader;
    private readonly RulesOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<string> _triggers = Channel.CreateUnbounded<string>();

    public RulesWatcher(LiveRules live, RulesReloader reloader, IOptions<InvalidatorOptions> options, ILoggerFactory loggers, TimeProvider time)
    {
        _live = live;
        _reloader = reloader;
        _options = options.Value.Rules;
        _logger = loggers.CreateLogger(RulesReloader.LogCategory);
        _time = time;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = _live.Current.Path;
        using var sighup = RegisterSighup();
        var watchers = _options.Watch ? Watch(path) : [];
        try
        {
            if (!_options.Watch)
            {
                Log.RulesNotWatched(_logger, path);
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                var trigger = await _triggers.Reader.ReadAsync(stoppingToken).ConfigureAwait(false);
                if (trigger == RulesReloader.FileChanged)
                {
                    trigger = await QuietAsync(stoppingToken).ConfigureAwait(false);
                }

                _reloader.Reload(trigger);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown.
        }
        finally
        {
            foreach (var watcher in watchers)
            {
                watcher.Dispose();
            }
        }
    }

    /// <summary>Waits until no file event came for the debounce time (a SIGHUP meanwhile ends the wait): the trigger to report.</summary>
    private async Task<string> QuietAsync(CancellationToken stoppingToken)
    {
        while (true)
        {
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var more = _triggers.Reader.WaitToReadAsync(quiet.Token).AsTask();
            var delay = Task.Delay(_options.Debounce, _time, quiet.Token);
            var first = await Task.WhenAny(more, delay).ConfigureAwait(false);
            await quiet.CancelAsync().ConfigureAwait(false);
            stoppingToken.ThrowIfCancellationRequested();
            if (first == delay)
            {
                return RulesReloader.FileChanged;
            }

            while (_triggers.Reader.TryRead(out var next))
            {
                if (next == RulesReloader.Sighup)
                {
                    return RulesReloader.Sighup;
                }
            }
        }
    }

    private PosixSignalRegistration? RegisterSighup()
    {
        if (OperatingSystem.IsWindows())
        {
            return null; // there, SIGHUP stands for the console closing
        }

        try
        {
            return PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true; // SIGHUP's default is to end the process
                _triggers.Writer.TryWrite(RulesReloader.Sighup);
            });
        }
        catch (Exception ex) when (ex is PlatformNotSupportedException or IOException)
        {
            return null;
        }
    }

    /// <summary>Watchers on the file's directory (and on its symlink target's, when the file is a link elsewhere).</summary>
    private List<FileSystemWatcher> Watch(string path)
    {
        var watchers = new List<FileSystemWatcher>();
        var targets = new List<string> { path };
        try
        {
            if (new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true) is { } target && target.FullName != path)
            {
                targets.Add(target.FullName);
            }
        }
        catch (IOException)
        {
            // Not a link, or a broken one: the directory of the path is watched.
        }

        foreach (var directory in targets.Select(t => (Directory: Path.GetDirectoryName(t)!, Name: Path.GetFileName(t))).DistinctBy(t => t.Directory))
        {
            FileSystemWatcher? watcher = null;
            try
            {
                watcher = new FileSystemWatcher(directory.Directory)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                    IncludeSubdirectories = false,
                };
                var names = targets.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
                FileSystemEventHandler changed = (_, e) => OnEvent(e.Name, names);
                watcher.Changed += changed;
                watcher.Created += changed;
                watcher.Deleted += changed;
                watcher.Renamed += (_, e) =>
                {
                    OnEvent(e.Name, names);
                    OnEvent(e.OldName, names);
                };
                // Events lost (the buffer overflowed): look at the file anyway; an unchanged one is passed over.
                watcher.Error += (_, _) => _triggers.Writer.TryWrite(RulesReloader.FileChanged);
                watcher.EnableRaisingEvents = true;
                watchers.Add(watcher);
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException)
            {
                // For example the inotify instance limit (fs.inotify.max_user_instances).
                watcher?.Dispose();
                Log.RulesWatchFailed(_logger, path, ex.Message);
            }
        }

        if (watchers.Count > 0)
        {
            Log.RulesWatching(_logger, path, _options.Debounce.TotalSeconds);
        }

        return watchers;
    }

    /// <summary>The rules file itself, or Kubernetes' <c>..data</c> links and timestamped directories beside it.</summary>
    private void OnEvent(string? name, HashSet<string?> names)
    {
        if (name is not null && (names.Contains(name) || name.StartsWith("..", StringComparison.Ordinal)))
        {
            _triggers.Writer.TryWrite(RulesReloader.FileChanged);
        }
    }
}
