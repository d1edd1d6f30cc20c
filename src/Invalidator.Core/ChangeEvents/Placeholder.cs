namespace Invalidator.Core.ChangeEvents; internal static class Placeholder {}
