using DotNet.Testcontainers.Configurations;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>
/// Chooses between containers and locally started servers. Both are real servers; containers need a
/// Docker engine, which the CI machines do not have (docs/environment.md).
/// INVALIDATOR_TEST_SERVERS=local|docker overrides the detection.
/// </summary>
public static class DockerAvailability
{
    private static readonly Lazy<bool> Detected = new(Detect);

    public static bool UseContainers => Detected.Value;

    private static bool Detect()
    {
        var choice = Environment.GetEnvironmentVariable("INVALIDATOR_TEST_SERVERS");
        if (string.Equals(choice, "local", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (string.Equals(choice, "docker", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        // Null when Testcontainers finds no reachable Docker endpoint; checked before building anything.
        return TestcontainersSettings.OS.DockerEndpointAuthConfig is not null;
    }
}
