using System.Diagnostics;
using System.Text;
using Invalidator.Worker.Cli;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>What a command printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Output, string Error)
{
    /// <summary>Non-empty lines of standard error.</summary>
    public IReadOnlyList<string> ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}";
}

/// <summary>
/// The repository's files the CLI tests read (fixtures, the example rules, the built <c>invalidator</c> binary),
/// a scratch directory per test, and two ways to run the command line: in process, or the built binary.
/// </summary>
public sealed class CliFiles : IDisposable
{
    /// <summary>The line <c>rules check</c> prints after its summary: the canary table's built-in rule.</summary>
    public const string BuiltInCanaryLine = "built in: public.invalidator_canary keys [\"invalidator:canary:{worker}:{seq}\"] (the freshness probe's canaries, Invalidator:Probe:Table)";

    private static readonly Lazy<string> LazyRepository = new(() => FindUp("Invalidator.sln") is { } sln
        ? Path.GetDirectoryName(sln)!
        : throw new DirectoryNotFoundException($"No Invalidator.sln above {AppContext.BaseDirectory}"));

    public CliFiles() => Directory = System.IO.Directory.CreateTempSubdirectory("invalidator-cli-").FullName;

    /// <summary>This test's scratch directory, deleted on dispose.</summary>
    public string Directory { get; }

    public static string Repository => LazyRepository.Value;

    public static string ExampleRules => Path.Combine(Repository, "deploy", "rules.example.yaml");

    /// <summary>shared/fixtures/debezium sits beside the repository checkout (as for the Core tests).</summary>
    public static string Fixture(string name)
    {
        var directory = FindUp(Path.Combine("shared", "fixtures", "debezium"), directory: true)
            ?? throw new DirectoryNotFoundException("shared/fixtures/debezium must sit beside the repository checkout");
        return Path.Combine(directory, name);
    }

    /// <summary>
    /// The shipped entry point, src/Invalidator.Worker/bin/&lt;configuration&gt;/net10.0/invalidator, built with
    /// the same configuration as these tests (the Worker is a project reference, so it is built first).
    /// </summary>
    public static string WorkerBinary
    {
        get
        {
            var testOutput = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = testOutput.Parent!.Name; // .../bin/<configuration>/net10.0
            var binary = Path.Combine(Repository, "src", "Invalidator.Worker", "bin", configuration, testOutput.Name, "invalidator");
            return File.Exists(binary) ? binary : throw new FileNotFoundException($"The worker is not built at {binary}", binary);
        }
    }

    public string Write(string name, string content)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Runs the command line in this process, capturing what it prints.</summary>
    public static async Task<CliResult> InvokeAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await InvalidatorCommandLine.InvokeAsync(args, output, error);
        return new CliResult(exit, output.ToString(), error.ToString());
    }

    /// <summary>
    /// Runs the built binary in <see cref="Directory"/>, with no <c>Invalidator__*</c> or environment-name
    /// variables inherited, so only the files this test wrote configure it.
    /// </summary>
    public Task<CliResult> RunBinaryAsync(params string[] args) => RunBinaryAsync(new Dictionary<string, string>(), args);

    /// <summary>The same, with <paramref name="environment"/> added to the child's environment (for example PGPASSWORD).</summary>
    public async Task<CliResult> RunBinaryAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo(WorkerBinary)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("Invalidator__", StringComparison.OrdinalIgnoreCase)
                || name is "DOTNET_ENVIRONMENT" or "ASPNETCORE_ENVIRONMENT")
            {
                start.Environment.Remove(name);
            }
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {WorkerBinary}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(); // this process only, by its PID
            throw new TimeoutException($"invalidator {string.Join(' ', args)} did not exit within 60 s");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    private static string? FindUp(string relative, bool directory = false)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (directory ? System.IO.Directory.Exists(candidate) : File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
