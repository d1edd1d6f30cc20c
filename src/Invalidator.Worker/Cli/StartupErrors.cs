using Invalidator.Core.Rules;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Cli;

/// <summary>What to fix when a command cannot start: one line per bad configuration key or rules-file position.</summary>
internal static class StartupErrors
{
    /// <summary>True for the exceptions <see cref="WriteAsync"/> explains: bad configuration, bad rules file.</summary>
    public static bool IsStartupError(Exception exception) => exception is OptionsValidationException or RulesException;

    public static async Task WriteAsync(Exception exception, TextWriter error)
    {
        var (heading, lines) = exception switch
        {
            OptionsValidationException options => ("Invalid configuration:", options.Failures),
            RulesException rules => ("Invalid rules file:", rules.MoreErrors > 0
                ? [.. rules.Errors.Select(e => e.ToString()), $"... and {rules.MoreErrors} more error(s) (only the first {rules.Errors.Count} are shown)"]
                : rules.Errors.Select(e => e.ToString())),
            _ => throw new ArgumentException($"Not a start-up error: {exception.GetType().Name}", nameof(exception)),
        };
        await error.WriteLineAsync(heading).ConfigureAwait(false);
        foreach (var line in lines)
        {
            await error.WriteLineAsync("  " + line).ConfigureAwait(false);
        }
    }
}
