namespace Invalidator.IntegrationTests; public class Smoke { [Fact] public void Works() => Assert.True(true); }
