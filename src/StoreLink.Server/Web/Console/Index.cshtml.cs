namespace StoreLink.Server.Web.Console;

/// <summary>The inbox and the conversation view; everything live is done by <c>assets/js/inbox.js</c> over REST and the WebSocket.</summary>
public sealed class IndexModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public override string Script => "inbox.js";

    public void OnGet()
    {
    }
}
