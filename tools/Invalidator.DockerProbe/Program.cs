using Invalidator.IntegrationTests.Infrastructure;

// Exit 0 when Testcontainers finds a Docker engine (or INVALIDATOR_TEST_SERVERS=docker asks for containers), so the
// DockerEndToEnd tests can run; else exit 1. Either way one line on stdout says why, for scripts/test.sh to print.
if (DockerAvailability.UseContainers)
{
    Console.WriteLine("Docker engine found");
    return 0;
}

var choice = Environment.GetEnvironmentVariable("INVALIDATOR_TEST_SERVERS");
Console.WriteLine(string.Equals(choice, "local", StringComparison.OrdinalIgnoreCase) ? "INVALIDATOR_TEST_SERVERS=local" : "no Docker engine");
return 1;
