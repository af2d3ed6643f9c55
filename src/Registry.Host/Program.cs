using Registry.Host.Cli;

return await RegistryCommand.InvokeAsync(args, Console.Out, Console.Error);
