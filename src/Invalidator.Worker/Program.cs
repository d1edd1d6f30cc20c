using Invalidator.Worker.Cli;

return await InvalidatorCommandLine.InvokeAsync(args).ConfigureAwait(false);
