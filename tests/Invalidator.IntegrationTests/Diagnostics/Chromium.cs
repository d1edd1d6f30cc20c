using System.Diagnostics;
using Xunit.Sdk;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// Debian's headless Chromium, driven from the command line (<c>--dump-dom</c>, <c>--screenshot</c>).
/// A missing browser fails the test: .ci/run installs it, and a browser test that skips proves nothing.
/// </summary>
public static class Chromium
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    // Without the background-networking flags Chromium keeps trying Google's hosts on this closed network.
    private static readonly string[] CommonArguments =
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
    ];

    public static string Executable => Find();

    /// <summary>The DOM after the page's scripts ran for <paramref name="budget"/> of virtual time (fetches complete first).</summary>
    public static async Task<string> DumpDomAsync(Uri url, TimeSpan budget) =>
        await RunAsync([$"--virtual-time-budget={(int)budget.TotalMilliseconds}", "--dump-dom", url.ToString()]).ConfigureAwait(false);

    /// <summary>Saves a PNG of the page after <paramref name="budget"/> of virtual time.</summary>
    public static async Task ScreenshotAsync(Uri url, string path, TimeSpan budget, int width = 1280, int height = 1200)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(path);
        await RunAsync([$"--virtual-time-budget={(int)budget.TotalMilliseconds}", $"--window-size={width},{height}", $"--screenshot={path}", url.ToString()]).ConfigureAwait(false);
        if (!File.Exists(path))
        {
            throw new XunitException($"Chromium wrote no screenshot to {path}");
        }
    }

    private static async Task<string> RunAsync(IEnumerable<string> arguments)
    {
        var profile = Directory.CreateTempSubdirectory("invalidator-chromium-");
        try
        {
            var start = new ProcessStartInfo(Executable)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var argument in CommonArguments.Append($"--user-data-dir={profile.FullName}").Concat(arguments))
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new XunitException($"Could not start {Executable}");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(RunTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true); // Only the browser this method started.
                throw new XunitException($"Chromium did not finish within {RunTimeout.TotalSeconds} s. stderr:{Environment.NewLine}{await stderr.ConfigureAwait(false)}");
            }

            if (process.ExitCode != 0)
            {
                throw new XunitException($"Chromium exited with {process.ExitCode}. stderr:{Environment.NewLine}{await stderr.ConfigureAwait(false)}");
            }

            return await stdout.ConfigureAwait(false);
        }
        finally
        {
            try
            {
                profile.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A profile file still held by an exiting helper process; the temp directory is cleaned anyway.
            }
        }
    }

    private static string Find()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/bin", "/usr/local/bin"])
            .SelectMany(dir => new[] { "chromium", "chromium-browser" }.Select(name => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists)
            ?? throw new XunitException("Chromium not found: the status page test needs a real browser. Run .ci/run (it installs Debian's chromium) or apt-get install chromium.");
    }
}
