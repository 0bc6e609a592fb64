namespace StoreLink.Server.Web.Console;

/// <summary>
/// A store's work items as a board (a column per state of the kind's template) or a list, with filters; the page is a
/// frame, <c>assets/js/work.js</c> reads the REST API and follows <c>work_item</c> pushes.
/// </summary>
public sealed class WorkModel(ConsoleStrings strings) : ConsolePage(strings)
{
    public override string Script => "work.js";

    public void OnGet()
    {
    }
}
