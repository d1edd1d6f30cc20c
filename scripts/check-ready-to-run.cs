// Exits 0 when every assembly named is ReadyToRun (its CLI header points at a ManagedNativeHeader, the READYTORUN
// header crossgen2 writes), else 1 naming each one that is IL only (JIT-compiled at every start). scripts/check-tool.sh
// runs it on the installed tool: dotnet run scripts/check-ready-to-run.cs -- PATH...
using System.Reflection.PortableExecutable;

if (args.Length == 0)
{
    Console.Error.WriteLine("usage: dotnet run scripts/check-ready-to-run.cs -- ASSEMBLY...");
    return 2;
}

var jitOnly = args.Where(path => !IsReadyToRun(path)).ToList();
foreach (var path in jitOnly)
{
    Console.Error.WriteLine($"{path}: not ReadyToRun (its CLI header has no ManagedNativeHeader): IL only, so every start waits for the JIT");
}

return jitOnly.Count == 0 ? 0 : 1;

static bool IsReadyToRun(string path)
{
    using var stream = File.OpenRead(path);
    using var pe = new PEReader(stream);
    return pe.PEHeaders.CorHeader is { ManagedNativeHeaderDirectory.Size: > 0 };
}
