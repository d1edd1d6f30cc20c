using System.Diagnostics;
using System.Text;

using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// The real worker binary in its own process (<c>invalidator run</c>), so a test can SIGKILL it like an
/// orchestrator or the OOM killer would. Its working directory holds its own appsettings.json and rules.
/// </summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private WorkerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Writes the settings as appsettings.json and the rules into <paramref name="directory"/>, then starts the worker there.</summary>
    public static WorkerProcess Start(string directory, IReadOnlyDictionary<string, string?> settings, string rulesYaml, IReadOnlyDictionary<string, string>? environment = null)
    {
        File.WriteAllText(Path.Combine(directory, "rules.yaml"), rulesYaml);
        ConfigFile.Write(Path.Combine(directory, "appsettings.json"), settings);
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = directory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "invalidator.dll"));
        start.ArgumentList.Add("run");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return new WorkerProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start the worker"));
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed or committed.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as a clean stop; returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }
}
